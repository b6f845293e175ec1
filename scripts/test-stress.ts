// CLI: runs the unit suite (jest, with the config `npm test` uses) several times while busy processes
// take every core, and lists each test that failed in any round: a tool for finding timing-dependent tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { validateFlags } from './cli-args';
import { startCpuHog } from './stress/cpu-hog';
import { failuresOf, parseJestReport, type TestFailure } from './stress/jest-results';

const REPO_ROOT = resolve(__dirname, '..');
const JEST = require.resolve('jest/bin/jest', { paths: [REPO_ROOT] });
const CORES = availableParallelism();

const USAGE = `Usage: npm run test:stress -- [--rounds N] [--hogs N] [-- JEST_ARGS...]

Runs the unit suite (jest with the config npm test uses) N times while busy processes keep every
core taken, as on a CI machine shared with other work. Lists every test that failed in any round,
with its round, then a summary line; exits 1 if any test failed. Not part of CI (it takes rounds
times the suite's time).
  --rounds N   how many times to run the suite (default 3)
  --hogs N     busy processes beside the suite (default one per core: ${CORES} here; 0 for none)
  JEST_ARGS    passed on to jest, e.g. a path pattern: -- test/service/proxy
Each round's jest output and JSON report are kept in a temporary folder named at the start.`;

const count = (flag: string, min: number) =>
  z.coerce
    .number({ error: `${flag} must be a whole number` })
    .int(`${flag} must be a whole number`)
    .min(min, `${flag} must be at least ${min}`);

const Args = z.object({
  rounds: count('--rounds', 1).default(3),
  hogs: count('--hogs', 0).default(CORES),
});

interface Round {
  readonly tests: number;
  readonly passed: number;
  readonly failures: TestFailure[];
}

let jest: ChildProcess | undefined;

/** One jest run; its output goes to round-N.log, its report to round-N.json in `dir`. */
async function runRound(round: number, dir: string, jestArgs: readonly string[]): Promise<Round> {
  const reportFile = join(dir, `round-${round}.json`);
  const logFile = join(dir, `round-${round}.log`);
  const log = createWriteStream(logFile);
  // Its own process group, so an interrupt can stop jest, its workers and what the tests started at once.
  const child = spawn(process.execPath, [JEST, '--json', '--outputFile', reportFile, ...jestArgs], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  jest = child;
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exitCode = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done(code));
  });
  jest = undefined;
  await new Promise<void>((done) => log.end(done));

  const report = parseJestReport(await readFile(reportFile, 'utf8').catch(() => ''), reportFile);
  const failures = failuresOf(report, round, REPO_ROOT);
  if (exitCode !== 0 && failures.length === 0) {
    failures.push({ round, file: logFile, test: undefined, excerpt: `jest exited with code ${exitCode} but reported no failed test; see the log` });
  }
  return { tests: report.numTotalTests, passed: report.numPassedTests, failures };
}

function describeFailure(failure: TestFailure): string {
  const where = failure.test === undefined ? `${failure.file} (outside any test)` : `${failure.file} › ${failure.test}`;
  const why = failure.excerpt === '' ? '' : `\n${failure.excerpt.replace(/^/gm, '      ')}`;
  return `  round ${failure.round}: ${where}${why}`;
}

const OPTIONS = { rounds: { type: 'string' }, hogs: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/** Flags and the arguments for jest; undefined (exit code 2) for an unknown flag. */
function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exitCode = 2;
    return undefined;
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const parsed = parseCommandLine(argv);
  if (!parsed) return;
  const args = validateFlags(Args, parsed.values, USAGE);
  if (!args) return;
  const jestArgs = parsed.positionals;

  const dir = await mkdtemp(join(tmpdir(), 'test-stress-'));
  const hog = startCpuHog(args.hogs);
  const interrupt = (signal: NodeJS.Signals): void => {
    hog.stop();
    // The whole group: jest, its workers and the services the tests started. It may be gone already.
    if (jest?.pid !== undefined) {
      try {
        process.kill(-jest.pid, 'SIGTERM');
      } catch {
        // nothing left to stop
      }
    }
    console.error(`\ntest:stress: ${signal}: stopped jest and the busy processes; reports so far in ${dir}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const suite = ['jest', ...jestArgs].join(' ');
  console.log(`test:stress: ${args.rounds} round(s) of ${suite} beside ${hog.count} busy process(es) on ${CORES} core(s); reports in ${dir}`);
  const failures: TestFailure[] = [];
  let tests = 0;
  try {
    for (let round = 1; round <= args.rounds; round++) {
      const started = performance.now();
      const result = await runRound(round, dir, jestArgs);
      tests += result.tests;
      failures.push(...result.failures);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      console.log(`round ${round}/${args.rounds}: ${result.passed} of ${result.tests} tests passed, ${result.failures.length} failure(s) (${seconds} s)`);
      for (const failure of result.failures) console.log(describeFailure(failure));
    }
  } finally {
    hog.stop();
  }

  if (failures.length > 0) {
    console.log('\nFailed in some round:');
    for (const failure of failures) console.log(describeFailure(failure));
  }
  const distinct = new Set(failures.map((failure) => `${failure.file} › ${failure.test ?? ''}`)).size;
  const rounds = new Set(failures.map((failure) => failure.round)).size;
  console.log(
    `\ntest:stress: ${args.rounds} round(s), ${tests} tests run, ${failures.length} failure(s)` +
      (failures.length > 0 ? ` (${distinct} distinct, in ${rounds} of ${args.rounds} rounds)` : '') +
      `; reports in ${dir}`,
  );
  if (failures.length > 0) process.exitCode = 1;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
