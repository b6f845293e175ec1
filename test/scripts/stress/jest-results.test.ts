// Reading jest's --json report into test:stress failures: failed tests with an excerpt, files that
// failed outside any test, and a report that is not one.
import { excerpt, failuresOf, parseJestReport } from '../../../scripts/stress/jest-results';

const root = '/repo';
const failure = [
  '\u001b[31mError: expect(received).toEqual(expected)\u001b[39m',
  '',
  'Expected: ["bytes=6769192-"]',
  'Received: ["bytes=6745905-"]',
  '    at Object.<anonymous> (/repo/test/a.test.ts:3:9)',
].join('\n');

const report = JSON.stringify({
  numPassedTests: 1,
  numFailedTests: 1,
  numTotalTests: 2,
  numRuntimeErrorTestSuites: 1,
  success: false,
  startTime: 1,
  testResults: [
    {
      name: '/repo/test/a.test.ts',
      status: 'failed',
      message: '  ● fetch › resumes\n\n' + failure,
      assertionResults: [
        { fullName: 'fetch passes', status: 'passed', failureMessages: [] },
        { fullName: 'fetch resumes', status: 'failed', failureMessages: [failure] },
      ],
    },
    { name: '/repo/test/b.test.ts', status: 'failed', message: '  ● Test suite failed to run\n\n    Cannot find module x\n\n    > 1 | import x\n', assertionResults: [] },
    { name: '/repo/test/c.test.ts', status: 'passed', message: '', assertionResults: [{ fullName: 'c', status: 'passed', failureMessages: [] }] },
  ],
});

describe('failuresOf', () => {
  it('lists each failed test with its round, file and an excerpt, and a file that failed outside its tests once', () => {
    expect(failuresOf(parseJestReport(report, 'round-2.json'), 2, root)).toEqual([
      { round: 2, file: 'test/a.test.ts', test: 'fetch resumes', excerpt: 'Error: expect(received).toEqual(expected)\nExpected: ["bytes=6769192-"]\nReceived: ["bytes=6745905-"]' },
      { round: 2, file: 'test/b.test.ts', test: undefined, excerpt: 'Cannot find module x' },
    ]);
  });
});

describe('excerpt', () => {
  it('keeps at most four lines, before the stack and the code frame', () => {
    expect(excerpt('a\nb\nc\nd\ne')).toBe('a\nb\nc\nd');
    expect(excerpt('thrown\n    at f (x.ts:1:1)\nlater')).toBe('thrown');
  });
});

describe('parseJestReport', () => {
  it('says which file is not a report, and why', () => {
    expect(() => parseJestReport('', '/tmp/round-1.json')).toThrow(/^\/tmp\/round-1\.json is not JSON .*did jest crash before writing it\?$/);
    expect(() => parseJestReport('{"testResults":[]}', '/tmp/round-1.json')).toThrow(/^\/tmp\/round-1\.json is not a jest --json report: numPassedTests: /);
  });
});
