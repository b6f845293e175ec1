// Benchmark of the service's start-up: process start to the "listening" log line and to GET /ready 200, with
// the TypeScript sources through tsx (as the images ran before) against the compiled dist/ (as they run now).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchResults } from './bench/results';
import { median } from './bench/stats';
import { benchModelDir } from './gpt2-onnx/write-model-dir';

const USAGE = `Usage: npm run bench:startup [-- --quick] [--runs N] [--model DIR] [--no-build] [--write]

Starts the inference service N times per mode, in interleaved and rotated order, and times from spawning
node to the "listening" log line and to the first GET /ready 200 (polled every 5 ms once it listens), with
the CPU time the process had used by then (from /proc; steadier than wall time on a busy machine):
  tsx cold   node --import tsx service/main.ts, tsx's transform cache off (a fresh container has none)
  tsx warm   the same with tsx's cache filled by earlier runs (a developer's second npm start)
  node dist  node dist/service/main.js (what the images run)
  --quick     2 runs per mode (default 7)
  --runs N    runs per mode
  --model DIR model folder (default the tiny bench model, models/bench-tiny, made if missing)
  --no-build  use the existing dist/ instead of running npm run build first
Writes bench/results/startup.json and startup.md (not with --quick unless --write).`;

const REPO_ROOT = resolve(__dirname, '..');
const READY_POLL_MS = 5;
/** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;
const START_TIMEOUT_MS = 120_000;

interface Mode {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const MODES: readonly Mode[] = [
  { name: 'tsx cold', args: ['--import', 'tsx', 'service/main.ts'], env: { TSX_DISABLE_CACHE: '1' } },
  { name: 'tsx warm', args: ['--import', 'tsx', 'service/main.ts'], env: {} },
  { name: 'node dist', args: ['dist/service/main.js'], env: {} },
];

interface StartTimes {
  readonly listeningMs: number;
  readonly readyMs: number;
  /** User + system CPU of the service process until /ready answered 200. */
  readonly cpuMs: number;
}

/** utime + stime of a running process from /proc/PID/stat (fields 14 and 15, after the parenthesized name). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** One start: spawn, wait for the listening line, poll /ready, then SIGTERM and wait for the exit. */
async function startOnce(mode: Mode, modelDir: string): Promise<StartTimes> {
  const started = performance.now();
  const child = spawn(process.execPath, [...mode.args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', MODEL_DIR: modelDir, ...mode.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    let output = '';
    const listening = new Promise<{ url: string; at: number }>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`${mode.name}: no "listening" line within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const url = /"address":"(http[^"]+)"/.exec(output)?.[1];
        if (url === undefined) return;
        clearTimeout(timer);
        done({ url, at: performance.now() });
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => fail(new Error(`${mode.name}: exited with ${code} before listening:\n${output}`)));
    });
    const { url, at } = await listening;
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const status = await fetch(`${url}/ready`).then((response) => response.status, () => 0);
      if (status === 200) return { listeningMs: at - started, readyMs: performance.now() - started, cpuMs: processCpuMs(child.pid!) };
      if (performance.now() > deadline) throw new Error(`${mode.name}: /ready did not turn 200 within ${START_TIMEOUT_MS} ms`);
      await new Promise((done) => setTimeout(done, READY_POLL_MS));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function runCommand(command: string, args: readonly string[]): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, [...args], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

interface ModeSummary {
  readonly mode: string;
  readonly runs: readonly StartTimes[];
  readonly listeningMs: { readonly median: number; readonly min: number; readonly max: number };
  readonly readyMs: { readonly median: number; readonly min: number; readonly max: number };
  readonly cpuMs: { readonly median: number; readonly min: number; readonly max: number };
}

function summarize(mode: string, runs: readonly StartTimes[]): ModeSummary {
  const stats = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
  return {
    mode,
    runs,
    listeningMs: stats(runs.map((run) => run.listeningMs)),
    readyMs: stats(runs.map((run) => run.readyMs)),
    cpuMs: stats(runs.map((run) => run.cpuMs)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      model: { type: 'string' },
      'no-build': { type: 'boolean' },
      write: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const quick = values.quick ?? false;
  const runs = Number(values.runs ?? (quick ? 2 : 7));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number >= 1 (got ${values.runs})\n\n${USAGE}`);
  if (values['no-build']) {
    if (!existsSync(join(REPO_ROOT, 'dist', 'service', 'main.js'))) throw new Error('--no-build: dist/service/main.js is missing; run npm run build first');
  } else {
    await runCommand('npm', ['run', 'build', '--silent']);
  }
  const modelDir = await benchModelDir(values.model, true);

  // One untimed start per mode: the warm tsx mode then has its cache, and every mode the OS file cache.
  for (const mode of MODES) await startOnce(mode, modelDir);
  const times = new Map<string, StartTimes[]>(MODES.map((mode) => [mode.name, []]));
  const loads: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    // Rotated so no mode always follows the same neighbour.
    for (let i = 0; i < MODES.length; i += 1) {
      const mode = MODES[(run + i) % MODES.length]!;
      const result = await startOnce(mode, modelDir);
      times.get(mode.name)!.push(result);
      loads.push(loadavg()[0] ?? 0);
      console.error(`run ${run + 1}/${runs} ${mode.name}: listening ${result.listeningMs.toFixed(0)} ms, ready ${result.readyMs.toFixed(0)} ms, CPU ${result.cpuMs.toFixed(0)} ms`);
    }
  }

  const summaries = MODES.map((mode) => summarize(mode.name, times.get(mode.name)!));
  const compiled = summaries.find((summary) => summary.mode === 'node dist')!;
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    model: basename(modelDir),
    runsPerMode: runs,
    modes: summaries,
    /** Median start-up of each mode divided by node dist's (> 1: slower than the compiled service). */
    ratioToCompiled: Object.fromEntries(
      summaries.map((summary) => [
        summary.mode,
        {
          listening: summary.listeningMs.median / compiled.listeningMs.median,
          ready: summary.readyMs.median / compiled.readyMs.median,
          cpu: summary.cpuMs.median / compiled.cpuMs.median,
        },
      ]),
    ),
    loadAvg1m: { min: Math.min(...loads), max: Math.max(...loads) },
    cores: cpus().length,
  };

  const f = (value: number): string => value.toFixed(0);
  const rows = summaries.map((summary) => {
    const ratio = report.ratioToCompiled[summary.mode]!;
    return (
      `| ${summary.mode} | ${f(summary.listeningMs.median)} (${f(summary.listeningMs.min)}-${f(summary.listeningMs.max)}) | ` +
      `${f(summary.readyMs.median)} (${f(summary.readyMs.min)}-${f(summary.readyMs.max)}) | ` +
      `${f(summary.cpuMs.median)} (${f(summary.cpuMs.min)}-${f(summary.cpuMs.max)}) | ` +
      `${ratio.listening.toFixed(2)}x / ${ratio.ready.toFixed(2)}x / ${ratio.cpu.toFixed(2)}x |`
    );
  });
  const markdown =
    `# Start-up benchmark\n\n${report.date}; Node ${report.node}; model \`${report.model}\`; ${runs} starts per mode, interleaved and rotated, ` +
    `after one untimed start of each.\n\n` +
    `| mode | to "listening", ms: median (min-max) | to /ready 200, ms: median (min-max) | CPU until ready, ms | vs node dist (listening / ready / CPU) |\n` +
    `|---|---|---|---|---|\n${rows.join('\n')}\n\n` +
    `"tsx cold" is what every container start paid before the images ran compiled JavaScript (a new container has no tsx cache). ` +
    `Load average (1 min) during the runs: ${report.loadAvg1m.min.toFixed(2)}-${report.loadAvg1m.max.toFixed(2)} on ${report.cores} cores.\n`;
  console.log(markdown);
  if (!quick || values.write) {
    await writeBenchResults('startup', report, markdown);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
