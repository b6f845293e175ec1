// The busy processes of test:stress: they spin (use CPU time), stop when asked, and stop on their own
// when the process that started them is gone.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startCpuHog } from '../../../scripts/stress/cpu-hog';
import { eventually } from '../../support/eventually';

/** /proc/PID/stat after the command name (state first), or undefined once the process is gone. */
function stat(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  } catch {
    return undefined;
  }
}

/** User plus system CPU time, in clock ticks. */
const cpuTicks = (pid: number) => Number(stat(pid)?.[11] ?? 0) + Number(stat(pid)?.[12] ?? 0);
/** Exists and is not a zombie waiting to be reaped. */
const alive = (pid: number) => (stat(pid)?.[0] ?? 'Z') !== 'Z';

it('starts busy processes that use CPU time, and kills them on stop()', async () => {
  const hog = startCpuHog(2);
  try {
    expect(hog.pids).toHaveLength(2);
    // 20 ticks = 0.2 s of CPU each: spinning, not sleeping.
    await eventually(() => hog.pids.every((pid) => cpuTicks(pid) >= 20), 'each busy process using 0.2 s of CPU');
  } finally {
    hog.stop();
  }
  await eventually(() => hog.pids.every((pid) => !alive(pid)), 'the busy processes exiting after stop()');
});

it('stops by itself when the process that started it is killed', async () => {
  const parent = spawn(process.execPath, ['--import', 'tsx', '-e', "const h = require('./scripts/stress/cpu-hog').startCpuHog(1); console.log(h.pids[0]); setInterval(() => undefined, 1000);"], {
    cwd: `${__dirname}/../../..`,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  try {
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await eventually(() => !alive(pid), 'the orphaned busy process exiting');
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});
