// Runs one of the project's CLI scripts (`scripts/NAME.ts`) in its own node process, as a user
// would, and collects its exit code and output.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '..', '..');

export interface ScriptResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `env`, when given, replaces the environment (the script sees nothing else). */
export function runScript(name: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<ScriptResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', `${name}.ts`), ...args], {
      cwd: REPO_ROOT,
      ...(env ? { env } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (bytes: Buffer) => (stdout += bytes.toString()));
    child.stderr.on('data', (bytes: Buffer) => (stderr += bytes.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
