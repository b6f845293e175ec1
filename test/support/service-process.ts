// Runs service/main.ts as a child process (as `npm start` does, minus npm) for end-to-end tests,
// collecting its output and reading the address it listens on from its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '..', '..');

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (or the signal name) once the process exited and its output was read. */
  readonly exited: Promise<number | string>;
  /** Resolves with the base URL once the service logged that it listens; rejects if it exits first. */
  readonly listening: Promise<string>;
}

/** How node starts the service: the TypeScript sources through tsx (as `npm start`), or a compiled entry. */
const TSX_ENTRY = ['--import', 'tsx', 'service/main.ts'];

export function startService(env: Record<string, string>, nodeArgs: readonly string[] = TSX_ENTRY): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let resolveListening: (url: string) => void = () => undefined;
  let rejectListening: (error: Error) => void = () => undefined;
  const listening = new Promise<string>((resolve, reject) => {
    resolveListening = resolve;
    rejectListening = reject;
  });
  // Unobserved by tests that only wait for the exit; a rejection then must not count as unhandled.
  listening.catch(() => undefined);
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    const match = /"address":"(http[^"]+)"/.exec(output);
    if (match?.[1] !== undefined) resolveListening(match[1]);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // 'close', not 'exit': it comes after the pipes are drained, so output() then holds the last lines.
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => {
      rejectListening(new Error(`service/main.ts exited (${code ?? signal}) before it listened:\n${output}`));
      resolve(code ?? signal ?? -1);
    }),
  );
  return { child, output: () => output, exited, listening };
}

export async function waitForReady(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${url}/ready`).then((response) => response.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url}/ready did not turn 200 within ${timeoutMs} ms`);
}
