// Helpers the container tests share: run a command, build the image once per run, pick a free port.
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { REPO_ROOT } from './dockerfile';

export const IMAGE = 'localhost/gpt2-openai-toolkit:cpu';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit (the caller asserts on code). */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd: REPO_ROOT, env: options.env ?? process.env, timeout: options.timeoutMs ?? 10 * 60 * 1000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout, stderr: error !== null && typeof error.code !== 'number' ? `${stderr}\n${error.message}` : stderr });
      },
    );
  });
}

/** Like run, but a non-zero exit throws with the command's output, for steps that must work. */
export async function mustRun(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr.slice(-4000)}\n${result.stdout.slice(-2000)}`);
  }
  return result.stdout;
}

let built: Promise<{ seconds: number }> | undefined;

/** Builds the Dockerfile's cpu target without a model (tests mount one); layer caching makes repeats cheap. */
export function buildCpuImage(): Promise<{ seconds: number }> {
  built ??= (async () => {
    const started = Date.now();
    await mustRun(
      'podman',
      ['build', '--pull=never', '--network', 'host', '--format', 'docker', '--target', 'cpu', '--build-arg', 'MODEL_ID=', '-t', IMAGE, '.'],
      { timeoutMs: 15 * 60 * 1000 },
    );
    return { seconds: (Date.now() - started) / 1000 };
  })();
  return built;
}

/** A port nothing listens on right now (the container binds it itself on the host network). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? done(address.port) : fail(new Error('no port'))));
    });
  });
}
