// Reads the report jest writes with `--json --outputFile` into what test:stress lists: each failed test
// (or test file that failed outside its tests) with a short excerpt of why.
import { relative } from 'node:path';
import { z } from 'zod';

const Assertion = z.object({
  fullName: z.string(),
  status: z.string(),
  failureMessages: z.array(z.string()).default([]),
});

const TestFile = z.object({
  name: z.string(),
  status: z.string(),
  message: z.string().default(''),
  assertionResults: z.array(Assertion).default([]),
});

/** The part of jest's JSON report (its `AggregatedResult`) that test:stress reads. */
export const JestReport = z.object({
  numPassedTests: z.number(),
  numFailedTests: z.number(),
  numTotalTests: z.number(),
  numRuntimeErrorTestSuites: z.number(),
  success: z.boolean(),
  testResults: z.array(TestFile),
});
export type JestReport = z.infer<typeof JestReport>;

export interface TestFailure {
  readonly round: number;
  /** Test file relative to the repository root. */
  readonly file: string;
  /** Describe blocks and test name, as jest's fullName; undefined when the file itself failed (an error outside any test). */
  readonly test: string | undefined;
  /** The first lines of the failure, without colours or the stack. */
  readonly excerpt: string;
}

export function parseJestReport(text: string, source: string): JestReport {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON (${error instanceof Error ? error.message : String(error)}); did jest crash before writing it?`);
  }
  const parsed = JestReport.safeParse(json);
  if (!parsed.success) throw new Error(`${source} is not a jest --json report: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

/** Every failed test of one round; a file that failed with no failed test (say, an error in afterAll) counts once. */
export function failuresOf(report: JestReport, round: number, rootDir: string): TestFailure[] {
  return report.testResults.flatMap((testFile): TestFailure[] => {
    const file = relative(rootDir, testFile.name);
    const failed = testFile.assertionResults.filter((assertion) => assertion.status === 'failed');
    if (failed.length > 0) return failed.map((assertion) => ({ round, file, test: assertion.fullName, excerpt: excerpt(assertion.failureMessages.join('\n')) }));
    return testFile.status === 'failed' ? [{ round, file, test: undefined, excerpt: excerpt(testFile.message) }] : [];
  });
}

const ANSI = /\u001b\[[0-9;]*m/g;
const EXCERPT_LINES = 4;

/** The message's first lines up to the stack trace or the code frame: enough to recognise the failure. */
export function excerpt(message: string): string {
  const lines: string[] = [];
  for (const line of message.replace(ANSI, '').split('\n')) {
    const trimmed = line.trim();
    if (/^at /.test(trimmed) || /^>?\s*\d+ \|/.test(trimmed)) break;
    if (trimmed === '' || trimmed.startsWith('●')) continue;
    lines.push(trimmed);
    if (lines.length === EXCERPT_LINES) break;
  }
  return lines.join('\n');
}
