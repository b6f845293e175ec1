// A real headless browser for tests: Debian's Chromium driven by playwright-core, offline (the flags
// stop it calling home), each launch with a fresh profile; and a page wrapper that records every
// console error, uncaught exception, CSP violation and failed request the page produces.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** As root there is no sandbox; the rest keeps Chromium off the network it cannot reach here. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package with \`apt-get install -y chromium\` (.ci/run does this before npm test).`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface PageProblems {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly failedRequests: string[];
  /** Responses with a 4xx or 5xx status, as "STATUS URL". */
  readonly errorResponses: string[];
  cspViolations(): Promise<string[]>;
}

export interface WatchedPage {
  readonly page: Page;
  readonly problems: PageProblems;
}

/** A new page whose problems are recorded from before the first request. */
export async function watchedPage(browser: TestBrowser): Promise<WatchedPage> {
  const page = await browser.context.newPage();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  const errorResponses: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText ?? 'failed'}`));
  page.on('response', (response) => {
    if (response.status() >= 400) errorResponses.push(`${response.status()} ${response.url()}`);
  });
  // Runs before the page's own scripts (and is not subject to its CSP): every violation is kept. A
  // string because it runs in Chromium, not in Node.
  await page.addInitScript({
    content: `globalThis.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => globalThis.cspViolations.push(event.violatedDirective + ': ' + event.blockedURI));`,
  });
  const cspViolations = () => page.evaluate<string[]>('globalThis.cspViolations');
  return { page, problems: { consoleErrors, pageErrors, failedRequests, errorResponses, cspViolations } };
}
