// Starts the engine's worker process with the loader its entry needs: the TypeScript sources run
// under tsx (npm start, jest, the scripts), the compiled JavaScript (node dist/...) runs as is.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FromWorker, ToWorker } from './messages';

export interface WorkerEntry {
  readonly path: string;
  readonly execArgv: readonly string[];
}

/**
 * The entry beside `fromFile` (this module): `entry.ts` with tsx's loader when this module is
 * TypeScript, `entry.js` when it was compiled. tsx is resolved from here, not from the working
 * directory, so the service can start from anywhere.
 */
export function workerEntry(fromFile: string = __filename): WorkerEntry {
  const extension = extname(fromFile);
  const path = join(fromFile, '..', `entry${extension}`);
  if (!existsSync(path)) throw new Error(`the engine worker entry ${path} is missing (expected next to ${fromFile}); rebuild the service`);
  if (extension === '.js' || extension === '.cjs') return { path, execArgv: [] };
  return { path, execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href] };
}

export interface EngineProcess {
  readonly child: ChildProcess;
  send(message: ToWorker): void;
  onMessage(listener: (message: FromWorker) => void): void;
}

export interface SpawnOptions {
  /** Node flags added for the worker (e.g. --max-old-space-size=4096). */
  readonly execArgv?: readonly string[];
  /** Variables set for the worker on top of this process's environment (e.g. CUDA_VISIBLE_DEVICES). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Forks the worker process; its output goes to ours. */
export function spawnEngineProcess(options: SpawnOptions = {}): EngineProcess {
  const entry = workerEntry();
  const child = fork(entry.path, [], {
    execArgv: [...entry.execArgv, ...(options.execArgv ?? [])],
    env: { ...process.env, ...options.env },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return {
    child,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (listener) => child.on('message', (message) => listener(message as FromWorker)),
  };
}
