// Keeps CPU cores busy for test:stress: one child process per core spinning in a loop, so tests run
// as on a CI machine whose cores are taken by other work. Stopped explicitly, and on any exit.
import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Spins until killed. It also leaves by itself once its parent (pid in argv) is gone: a busy loop
 * never runs event handlers, so it checks between slices (signal 0 only tests that the pid exists).
 * The pid is passed rather than read from process.ppid, which is 1 already when the parent died
 * while the child was still starting.
 */
const SPIN = `const parent = Number(process.argv[1]);
for (;;) {
  const until = Date.now() + 50;
  while (Date.now() < until);
  try { process.kill(parent, 0); } catch { process.exit(0); }
}`;

export interface CpuHog {
  /** Busy processes started. */
  readonly count: number;
  readonly pids: readonly number[];
  /** Kills every busy process; safe to call more than once. */
  stop(): void;
}

export function startCpuHog(count: number): CpuHog {
  const children: ChildProcess[] = Array.from({ length: count }, () => spawn(process.execPath, ['-e', SPIN, String(process.pid)], { stdio: 'ignore' }));
  const stop = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // A thrown error or process.exit() elsewhere must not leave the cores spinning.
  process.once('exit', stop);
  return { count, pids: children.flatMap((child) => (child.pid === undefined ? [] : [child.pid])), stop };
}
