// Runs the smoke test: waits for /ready, then every check in order, timing each; never throws for a
// failing service (failures are results), so the caller can always print the table and the JSON.
import { CHECKS, type Check } from './checks';
import { CheckFailure, describeError, excerpt } from './http';
import type { SmokeOptions } from './options';

export interface CheckResult {
  readonly name: string;
  readonly status: 'pass' | 'fail' | 'skip';
  readonly ms: number;
  readonly detail: string;
  /** Set on failures: what the check wanted, and what came back. */
  readonly expected?: string;
  readonly received?: string;
}

export interface SmokeReport {
  readonly url: string;
  readonly variant: SmokeOptions['variant'];
  readonly model: string;
  readonly startedAt: string;
  readonly ms: number;
  readonly passed: boolean;
  readonly checks: CheckResult[];
}

const READY_POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls GET /ready until it answers 200 or the --timeout passes. The failure names the endpoint's last
 * answer and, if a later attempt got none, that attempt's error too: the last attempt has only what
 * is left of the timeout, and on a loaded machine "timed out" alone would hide a 500 seen just before.
 */
async function waitForReady(options: SmokeOptions): Promise<string> {
  const deadline = performance.now() + options.timeoutSeconds * 1000;
  let attempts = 0;
  let lastAnswer: string | undefined;
  let errorSince: string | undefined;
  for (;;) {
    attempts += 1;
    const remaining = deadline - performance.now();
    try {
      const response = await fetch(`${options.url}/ready`, {
        headers: options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` },
        signal: AbortSignal.timeout(Math.round(Math.max(250, Math.min(5000, remaining)))),
      });
      const text = await response.text();
      if (response.status === 200) return `200 after ${attempts} attempt(s)`;
      lastAnswer = `${response.status} ${excerpt(text)}`;
      errorSince = undefined;
    } catch (error) {
      errorSince = describeError(error);
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      const received = [lastAnswer, errorSince].filter((part) => part !== undefined).join(', then ');
      throw new CheckFailure(`GET ${options.url}/ready to return 200 within ${options.timeoutSeconds} s`, `${received} (after ${attempts} attempt(s))`);
    }
    await sleep(Math.min(READY_POLL_MS, left));
  }
}

async function timed(name: string, run: () => Promise<string>): Promise<CheckResult> {
  const started = performance.now();
  try {
    const detail = await run();
    return { name, status: 'pass', ms: performance.now() - started, detail };
  } catch (error) {
    const ms = performance.now() - started;
    if (error instanceof CheckFailure) {
      return { name, status: 'fail', ms, detail: error.message, expected: error.expected, received: error.received };
    }
    return { name, status: 'fail', ms, detail: `the check itself failed: ${describeError(error)}` };
  }
}

export async function runSmoke(options: SmokeOptions, checks: readonly Check[] = CHECKS): Promise<SmokeReport> {
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const selected = checks.filter((check) => !check.needsApiKey || options.apiKey !== undefined);
  const results: CheckResult[] = [await timed('ready', () => waitForReady(options))];
  const ready = results[0]?.status === 'pass';
  for (const check of selected) {
    results.push(
      ready
        ? await timed(check.name, () => check.run(options))
        : { name: check.name, status: 'skip', ms: 0, detail: 'not run: the service never became ready' },
    );
  }
  return {
    url: options.url,
    variant: options.variant,
    model: options.model,
    startedAt,
    ms: performance.now() - started,
    passed: results.every((result) => result.status === 'pass'),
    checks: results,
  };
}
