// npm run test:stress end to end on a throwaway jest project passed through to jest: a test that fails
// in one round only is listed with that round, the summary counts it, and the exit code is 1. No busy
// processes (--hogs 0), to spare the rest of the suite; cpu-hog.test covers them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { runScript } from '../support/run-script';

const REPO_ROOT = resolve(__dirname, '..', '..');

// Fails the first time it runs and passes after: a flaky test as test:stress should catch it.
const FLAKY_TEST = `const fs = require('node:fs');
const runs = require('node:path').join(__dirname, 'runs');
it('passes every round', () => {});
it('fails in the first round only', () => {
  const before = fs.existsSync(runs) ? Number(fs.readFileSync(runs, 'utf8')) : 0;
  fs.writeFileSync(runs, String(before + 1));
  expect(before).toBeGreaterThan(0);
});
`;

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'stress-project-'));
  await writeFile(join(project, 'jest.config.js'), "module.exports = { rootDir: __dirname, testEnvironment: 'node', transform: {} };\n");
  await writeFile(join(project, 'flaky.test.js'), FLAKY_TEST);
});

afterAll(() => rm(project, { recursive: true, force: true }));

it('lists the test that failed with its round, sums up, and exits 1', async () => {
  const result = await runScript('test-stress', ['--rounds', '2', '--hogs', '0', '--', '--config', join(project, 'jest.config.js')]);
  const file = relative(REPO_ROOT, join(project, 'flaky.test.js'));
  expect(result.stdout).toContain('beside 0 busy process(es)');
  expect(result.stdout).toMatch(/^round 1\/2: 1 of 2 tests passed, 1 failure\(s\)/m);
  expect(result.stdout).toMatch(/^round 2\/2: 2 of 2 tests passed, 0 failure\(s\)/m);
  const listed = result.stdout.slice(result.stdout.indexOf('Failed in some round:'));
  expect(listed).toContain(`  round 1: ${file} › fails in the first round only\n      Error: expect(received).toBeGreaterThan(expected)`);
  expect(listed).not.toContain('round 2:');
  expect(result.stdout).toMatch(/^test:stress: 2 round\(s\), 4 tests run, 1 failure\(s\) \(1 distinct, in 1 of 2 rounds\); reports in \S+test-stress-\w+$/m);
  expect(result.code).toBe(1);
});

it('exits 2 naming a wrong flag, and 0 with the usage on --help', async () => {
  const wrong = await runScript('test-stress', ['--rounds', 'many']);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toContain('--rounds must be a whole number');
  const help = await runScript('test-stress', ['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: npm run test:stress -- [--rounds N] [--hogs N] [-- JEST_ARGS...]');
});
