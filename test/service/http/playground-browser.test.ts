/**
 * @jest-environment ./test/support/onnx-environment.js
 */
// The playground in a real headless Chromium against the real service (tiny model, real onnxruntime,
// real HTTP app): it loads with no console error or CSP violation, streams a chat turn and a
// completion whose text equals what the API returns for the same request, shows OpenAI's error
// envelope as a readable message (a bad key, an over-long request), keeps the key out of storage,
// and works through the proxy in front of the service.
// UPDATE_SCREENSHOTS=1 writes the screenshots of both modes into docs/ (otherwise a temporary folder).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import type { Page } from 'playwright-core';
import { Registry } from 'prom-client';
import type { Backend } from '../../../service/backend';
import { createEngine } from '../../../service/engine/engine';
import { buildApp, type BuiltApp } from '../../../service/http/app';
import { createKeyAuthenticator, hashKey } from '../../../service/http/auth';
import { createInferenceBackend } from '../../../service/inference/backend';
import { launchBrowser, watchedPage, type TestBrowser, type WatchedPage } from '../../support/browser';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';
import { tinyModelDir } from '../../support/models';
import { writeProxyConfig } from '../proxy/support/config-file';
import { serveProxy, type ServedProxy } from '../proxy/support/harness';

// Chromium's start and the first page on a busy 2-core machine take seconds; every wait below is on
// an element or an event, these are only ceilings.
jest.setTimeout(120_000);
const WAIT = { timeout: 60_000 };

const SERVICE_KEY = 'sk-playground-service';
const TEAM_KEY = 'sk-playground-team';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(__dirname, '..', '..', '..', 'docs') : mkdtempSync(join(tmpdir(), 'playground-shots-'));

let backend: Backend;
const apps: BuiltApp[] = [];
let openUrl: string;
let keyedUrl: string;
let proxy: ServedProxy;
/** A scripted backend (test/support/fake-backend.ts) for failures the tiny model cannot be made to produce. */
let scripted: TestServer;
let browser: TestBrowser;

async function listen(authenticator: ReturnType<typeof createKeyAuthenticator>, registry: Registry): Promise<string> {
  const built = await buildApp({ backend, authenticator, registry, logger: pino({ level: 'silent' }) });
  apps.push(built);
  return built.app.listen({ host: '127.0.0.1', port: 0 });
}

beforeAll(async () => {
  const engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 8, maxQueue: 16 });
  const registry = new Registry();
  backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry });
  // The same engine behind two apps: without keys, and with one (each app has its own HTTP metrics).
  openUrl = await listen(createKeyAuthenticator([]), registry);
  keyedUrl = await listen(createKeyAuthenticator([{ name: 'service', sha256: hashKey(SERVICE_KEY) }]), new Registry());
  proxy = await serveProxy({
    UPSTREAM_BASE_URL: `${openUrl}/v1`,
    PROXY_UPSTREAM_NO_AUTH: 'true',
    PROXY_CONFIG_FILE: writeProxyConfig({ keys: [{ name: 'team', sha256: hashKey(TEAM_KEY) }], models: { allow: ['gpt2'], aliases: { default: 'gpt2' } } }),
    PROXY_FIRST_BYTE_TIMEOUT_MS: '30000',
    PROXY_TOTAL_TIMEOUT_MS: '60000',
  });
  scripted = await startTestServer(createFakeBackend());
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await scripted?.close();
  for (const built of apps) await built.app.close();
  await backend?.close();
});

async function open(url: string): Promise<WatchedPage> {
  const watched = await watchedPage(browser);
  await watched.page.goto(`${url}/`);
  await watched.page.waitForSelector('body[data-ready="true"]', WAIT);
  return watched;
}

// Code that runs in the page is written as strings: it runs in Chromium, where the DOM is, and is
// type-checked neither as Node code nor rewritten by jest's transform.

/** Counts every text delta the page writes into an answer, to tell a stream from one block of text. */
async function countDeltas(page: Page): Promise<void> {
  await page.evaluate(`
    globalThis.deltas = 0;
    new MutationObserver((records) => {
      for (const record of records) if (record.target.classList && record.target.classList.contains('generated')) globalThis.deltas += 1;
    }).observe(document.body, { subtree: true, childList: true });
  `);
}

const deltas = (page: Page) => page.evaluate<number>('globalThis.deltas');

async function setNumber(page: Page, id: string, value: string): Promise<void> {
  await page.fill(`#${id}`, value);
}

async function enterKey(page: Page, key: string): Promise<void> {
  await page.fill('#api-key', key);
  await page.dispatchEvent('#api-key', 'change');
}

interface Stats {
  readonly ttftMs: number;
  readonly totalMs: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly text: string;
}

async function lastStats(page: Page, scope: string): Promise<Stats> {
  const stats = page.locator(`${scope} .answer.complete .stats`).last();
  const data = (name: string) => stats.getAttribute(`data-${name}`).then(Number);
  return {
    ttftMs: await data('ttft-ms'),
    totalMs: await data('total-ms'),
    promptTokens: await data('prompt-tokens'),
    completionTokens: await data('completion-tokens'),
    text: await stats.innerText(),
  };
}

/** Waits for the last answer in `scope` to complete; an error shown instead fails at once with its text. */
async function answered(page: Page, scope: string): Promise<void> {
  await page.waitForSelector(`${scope} .answer.complete, #error:not([hidden])`, WAIT);
  if (await page.locator('#error').isVisible()) throw new Error(`the page shows an error: ${await page.locator('#error').innerText()}`);
}

/** The body of the last request, from the page's "Last request" panel (`POST path` then the JSON). */
async function sentBody(page: Page): Promise<Record<string, unknown>> {
  const shown = (await page.locator('#last-request').textContent()) ?? '';
  return JSON.parse(shown.slice(shown.indexOf('\n') + 1)) as Record<string, unknown>;
}

const choiceTexts = (page: Page, scope: string) => page.locator(`${scope} .answer`).last().locator('.generated').allInnerTexts();

async function expectNoProblems({ page, problems }: WatchedPage): Promise<void> {
  expect({
    console: problems.consoleErrors,
    uncaught: problems.pageErrors,
    failed: problems.failedRequests,
    errorResponses: problems.errorResponses,
    csp: await problems.cspViolations(),
  }).toEqual({ console: [], uncaught: [], failed: [], errorResponses: [], csp: [] });
  expect(await page.locator('#error').isHidden()).toBe(true);
}

function client(url: string, apiKey = 'unused'): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
}

describe('the playground on the inference service', () => {
  it('loads with no console error, CSP violation or failed request, and shows the variant, readiness and models', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    expect(await page.title()).toBe('Playground · gpt2-openai-toolkit');
    expect(await page.locator('#variant').innerText()).toBe('GPT-2 inference');
    expect(await page.locator('#readiness').getAttribute('data-status')).toBe('ready');
    expect(await page.locator('#model option').allInnerTexts()).toEqual(['gpt2']);
    expect(await page.locator('#engine-options').isVisible()).toBe(true);
    await expectNoProblems(watched);
    await page.close();
  });

  it('enforces its CSP: an inline style, an inline script and an HTML string are refused, and reported', async () => {
    const watched = await open(openUrl);
    const attempts = await watched.page.evaluate(`(() => {
      const outcome = (attempt) => { try { attempt(); return 'allowed'; } catch (error) { return error.name; } };
      document.body.setAttribute('style', 'background: red');
      const styled = getComputedStyle(document.body).backgroundColor;
      const script = document.createElement('script');
      return {
        styled,
        scriptText: outcome(() => { script.textContent = 'globalThis.injected = true'; }),
        innerHTML: outcome(() => { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); }),
      };
    })()`);
    expect(attempts).toMatchObject({ scriptText: 'TypeError', innerHTML: 'TypeError' });
    expect((attempts as { styled: string }).styled).not.toBe('rgb(255, 0, 0)');
    const violations = await watched.problems.cspViolations();
    expect(violations).toEqual(expect.arrayContaining([expect.stringMatching(/^style-src-attr: inline$/), expect.stringMatching(/^require-trusted-types-for: trusted-types-sink$/)]));
    await watched.page.close();
  });

  it('streams a chat turn: the text equals the API answer, with token usage and time to first token, and the next turn carries the history', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    await setNumber(page, 'max-tokens', '8');
    await setNumber(page, 'temperature', '0');
    await countDeltas(page);
    await page.fill('#chat-input', 'Hello, who are you?');
    await page.click('#send');
    await answered(page, '#transcript');

    const expected = await client(openUrl).chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hello, who are you?' }], max_tokens: 8, temperature: 0 });
    expect(await choiceTexts(page, '#transcript')).toEqual([expected.choices[0]?.message.content]);
    expect(await deltas(page)).toBeGreaterThan(1);
    const stats = await lastStats(page, '#transcript');
    expect(stats).toMatchObject({ promptTokens: expected.usage?.prompt_tokens, completionTokens: 8 });
    expect(stats.ttftMs).toBeGreaterThanOrEqual(0);
    expect(stats.ttftMs).toBeLessThanOrEqual(stats.totalMs);
    expect(stats.text).toContain(`${expected.usage?.prompt_tokens} prompt + 8 completion = ${(expected.usage?.prompt_tokens ?? 0) + 8} tokens`);
    expect(stats.text).toMatch(/first token \d+ ms/);
    expect(await page.locator('#chat-input').inputValue()).toBe('');
    await page.screenshot({ path: join(SCREENSHOTS, 'playground-chat.png') });

    await page.fill('#chat-input', 'Tell me more.');
    await page.click('#send');
    await page.locator('#transcript .answer.complete').nth(1).waitFor(WAIT);
    const sent = (await sentBody(page)) as { messages: unknown[]; stream: boolean };
    expect(sent.stream).toBe(true);
    expect(sent.messages).toEqual([
      { role: 'user', content: 'Hello, who are you?' },
      { role: 'assistant', content: expected.choices[0]?.message.content },
      { role: 'user', content: 'Tell me more.' },
    ]);
    await expectNoProblems(watched);
    await page.close();
  });

  it('streams a seeded completion with n = 2: each choice equals the API answer for the same request', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    await page.click('#tab-completion');
    expect(await page.locator('#completion-panel').isVisible()).toBe(true);
    expect(await page.locator('#chat-panel').isVisible()).toBe(false);
    await setNumber(page, 'max-tokens', '12');
    await setNumber(page, 'temperature', '0.9');
    await setNumber(page, 'n', '2');
    await setNumber(page, 'seed', '7');
    await countDeltas(page);
    await page.fill('#prompt', 'Once upon a time');
    await page.click('#send');
    await answered(page, '#completion-output');

    const expected = await client(openUrl).completions.create({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 12, temperature: 0.9, n: 2, seed: 7 });
    const byIndex = [...expected.choices].sort((a, b) => a.index - b.index).map((choice) => choice.text);
    expect(await choiceTexts(page, '#completion-output')).toEqual(byIndex);
    expect(await deltas(page)).toBeGreaterThan(2);
    expect(await page.locator('#completion-output .prompt-echo').allInnerTexts()).toEqual(['Once upon a time', 'Once upon a time']);
    const stats = await lastStats(page, '#completion-output');
    expect(stats).toMatchObject({ promptTokens: 4, completionTokens: 24 });
    expect(stats.ttftMs).toBeLessThanOrEqual(stats.totalMs);
    await page.screenshot({ path: join(SCREENSHOTS, 'playground-completion.png') });
    await expectNoProblems(watched);
    await page.close();
  });

  it('runs beam search and a non-streamed request, which reports no time to first token', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    await page.click('#tab-completion');
    await setNumber(page, 'max-tokens', '5');
    await setNumber(page, 'num-beams', '3');
    await page.uncheck('#stream');
    await page.fill('#prompt', 'The weather today');
    await page.click('#send');
    await answered(page, '#completion-output');
    const expected = await client(openUrl).completions.create({ model: 'gpt2', prompt: 'The weather today', max_tokens: 5, num_beams: 3 } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(await choiceTexts(page, '#completion-output')).toEqual([expected.choices[0]?.text]);
    // Sampling settings are left out with beams (the engine refuses a temperature alongside them).
    expect(await sentBody(page)).toEqual({ model: 'gpt2', prompt: 'The weather today', max_tokens: 5, num_beams: 3, n: 1, stream: false });
    const stats = await lastStats(page, '#completion-output');
    expect(stats.text).toContain('not streamed: no time to first token');
    expect(await page.locator('#completion-output .stats').getAttribute('data-ttft-ms')).toBeNull();
    await expectNoProblems(watched);
    await page.close();
  });

  it("shows an API error as the envelope's message with its status, code and param, and keeps the prompt", async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    await setNumber(page, 'max-tokens', '5000');
    await page.fill('#chat-input', 'Hello');
    await page.click('#send');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    const expected = await client(openUrl)
      .chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5000 })
      .catch((error: InstanceType<typeof OpenAI.APIError>) => error);
    expect(expected).toBeInstanceOf(OpenAI.APIError);
    const error = expected as InstanceType<typeof OpenAI.APIError>;
    expect(await page.locator('#error-message').innerText()).toBe(error.message.replace(/^400 /, ''));
    expect(await page.locator('#error-detail').innerText()).toMatch(new RegExp(`^HTTP 400 · code ${error.code} · type invalid_request_error( · param \\S+)? · request id \\S+$`));
    // Nothing was answered: the turn is not in the transcript and the text is back in the input.
    expect(await page.locator('#transcript .message').count()).toBe(0);
    expect(await page.locator('#chat-input').inputValue()).toBe('Hello');
    await page.close();
  });

  it('refuses a setting out of range before sending anything, naming the field', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') posts.push(request.url());
    });
    await setNumber(page, 'temperature', '3');
    await page.fill('#chat-input', 'Hello');
    await page.click('#send');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    expect(await page.locator('#error-message').innerText()).toBe('temperature must be a number >= 0 and <= 2 (got "3").');
    expect(posts).toEqual([]);
    await page.close();
  });

  it('stops a running stream with Stop and keeps what arrived', async () => {
    const watched = await open(openUrl);
    const { page } = watched;
    await page.click('#tab-completion');
    await setNumber(page, 'max-tokens', '1000');
    await page.fill('#prompt', 'A');
    await page.click('#send');
    // The first text, then Stop: 1,000 tokens take the tiny model seconds, a click milliseconds.
    await page.locator('#completion-output .generated').filter({ hasText: /\S/ }).first().waitFor(WAIT);
    await page.click('#stop-button');
    await page.waitForSelector('#completion-output .answer.stopped', WAIT);
    expect(await page.locator('#completion-output .stats').innerText()).toContain('stopped');
    expect((await choiceTexts(page, '#completion-output'))[0]).not.toBe('');
    expect(await page.locator('#send').isEnabled()).toBe(true);
    // The one failed request is the stream Stop aborted.
    expect(watched.problems.failedRequests).toEqual([`${openUrl}/v1/completions: net::ERR_ABORTED`]);
    expect({ console: watched.problems.consoleErrors, uncaught: watched.problems.pageErrors, csp: await watched.problems.cspViolations() }).toEqual({ console: [], uncaught: [], csp: [] });
    await page.close();
  });

  it('parses server-sent events split anywhere, with CRLF line ends, comments and multi-line data', async () => {
    const watched = await open(openUrl);
    const events = await watched.page.evaluate(`(async () => {
      const { createSseParser } = await import('/playground/sse.js');
      const parser = createSseParser();
      const text = ': keep-alive\\r\\n\\r\\ndata: {"a":1}\\r\\n\\r\\ndata: line one\\ndata: line two\\n\\nevent: x\\ndata:no-space\\n\\ndata: [DONE]\\n\\ndata: unterminated';
      const out = [];
      // Fed three characters at a time: every boundary falls inside a line somewhere.
      for (let at = 0; at < text.length; at += 3) out.push(...parser.push(text.slice(at, at + 3)));
      out.push(...parser.end());
      return out;
    })()`);
    expect(events).toEqual(['{"a":1}', 'line one\nline two', 'no-space', '[DONE]', 'unterminated']);
    await watched.page.close();
  });
});

describe('the playground when the backend fails', () => {
  it('shows an error event that ends a stream after its first chunks, and a 429 with its code', async () => {
    const watched = await open(scripted.url);
    const { page } = watched;
    await page.selectOption('#model', FAKE_MODEL);
    await page.click('#tab-completion');
    await page.fill('#prompt', 'fail-mid-stream');
    await page.click('#send');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    expect(await page.locator('#error-message').innerText()).toBe('fake failure mid-stream');
    expect(await page.locator('#error-detail').innerText()).toMatch(/^during the stream · code engine_failed · type server_error · request id \S+$/);

    await page.fill('#prompt', 'rate-limit');
    await page.click('#send');
    await page.locator('#error-detail', { hasText: 'HTTP 429' }).waitFor(WAIT);
    expect(await page.locator('#error-detail').innerText()).toMatch(/^HTTP 429 · code rate_limit_exceeded · type rate_limit_error/);
    expect(await page.locator('#completion-output .answer').count()).toBe(0);
    expect({ uncaught: watched.problems.pageErrors, csp: await watched.problems.cspViolations() }).toEqual({ uncaught: [], csp: [] });
    await page.close();
  });
});

describe('the playground with API keys', () => {
  it("asks for the key, shows the 401 envelope for a wrong one, works with the right one, and stores it nowhere", async () => {
    const watched = await open(keyedUrl);
    const { page, problems } = watched;
    // Nothing is requested from /v1 before a key is entered.
    expect(problems.errorResponses).toEqual([]);
    expect(await page.locator('#api-key-hint').innerText()).toContain('This endpoint needs an API key');
    expect(await page.locator('#model option').count()).toBe(0);

    await enterKey(page, 'sk-wrong');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    const refusal = await client(keyedUrl, 'sk-wrong').models.list().catch((error: InstanceType<typeof OpenAI.APIError>) => error);
    expect(await page.locator('#error-message').innerText()).toBe((refusal as Error).message.replace(/^401 /, ''));
    expect(await page.locator('#error-detail').innerText()).toMatch(/^HTTP 401 · code invalid_api_key · type authentication_error · request id \S+$/);

    await enterKey(page, SERVICE_KEY);
    await page.waitForSelector('#model option', { ...WAIT, state: 'attached' });
    expect(await page.locator('#error').isHidden()).toBe(true);
    await page.click('#tab-completion');
    await setNumber(page, 'max-tokens', '4');
    await page.fill('#prompt', 'Hello');
    await page.click('#send');
    await answered(page, '#completion-output');
    expect((await lastStats(page, '#completion-output')).completionTokens).toBe(4);

    // A key changed to a wrong one after the models loaded: the completion itself is refused.
    await page.fill('#api-key', 'sk-wrong-again');
    await page.click('#send');
    await page.waitForSelector('#error:not([hidden])', WAIT);
    expect(await page.locator('#error-detail').innerText()).toMatch(/^HTTP 401 · code invalid_api_key/);
    expect(await page.locator('#completion-output .answer').count()).toBe(0);

    const stored = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })');
    expect(stored).toEqual({ local: 0, session: 0, cookie: '' });
    expect(await browser.context.cookies()).toEqual([]);
    // The only problems are the refused requests themselves (Chromium logs each failed load): the
    // first key's model list, and the last key's, reloaded as the click on Send left the key field,
    // and its completion.
    expect(problems.errorResponses.map((line) => line.replace(/ .*\//, ' /')).sort()).toEqual(['401 /completions', '401 /models', '401 /models']);
    const refusedLoads = /^error: Failed to load resource: the server responded with a status of 401/;
    expect(problems.consoleErrors.filter((line) => refusedLoads.test(line))).toHaveLength(3);
    expect(problems.consoleErrors.filter((line) => !refusedLoads.test(line))).toEqual([]);
    expect({ uncaught: problems.pageErrors, csp: await problems.cspViolations() }).toEqual({ uncaught: [], csp: [] });
    await page.close();
  });
});

describe('the playground through the proxy', () => {
  it('shows the proxy variant without the engine extensions, and streams chat and completions from the service behind it', async () => {
    const watched = await open(proxy.url);
    const { page } = watched;
    expect(await page.locator('#variant').innerText()).toBe('proxy');
    expect(await page.locator('#engine-options').isHidden()).toBe(true);
    await enterKey(page, TEAM_KEY);
    await page.waitForSelector('#model option', { ...WAIT, state: 'attached' });
    expect((await page.locator('#model option').allInnerTexts()).sort()).toEqual(['default', 'gpt2']);
    await page.selectOption('#model', 'gpt2');
    await setNumber(page, 'max-tokens', '6');
    await setNumber(page, 'temperature', '0');

    await countDeltas(page);
    await page.fill('#chat-input', 'Hi there');
    await page.click('#send');
    await answered(page, '#transcript');
    const chat = await client(openUrl).chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hi there' }], max_tokens: 6, temperature: 0 });
    expect(await choiceTexts(page, '#transcript')).toEqual([chat.choices[0]?.message.content]);
    expect(await deltas(page)).toBeGreaterThan(1);
    expect((await lastStats(page, '#transcript')).completionTokens).toBe(6);

    await page.click('#tab-completion');
    await page.fill('#prompt', 'Once upon a time');
    await page.click('#send');
    await answered(page, '#completion-output');
    const completion = await client(openUrl).completions.create({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    expect(await choiceTexts(page, '#completion-output')).toEqual([completion.choices[0]?.text]);
    const stats = await lastStats(page, '#completion-output');
    expect(stats).toMatchObject({ promptTokens: 4, completionTokens: 6 });
    expect(stats.ttftMs).toBeLessThanOrEqual(stats.totalMs);
    // The proxy sent no engine extension upstream: the request body has only OpenAI's fields.
    const sent = await sentBody(page);
    expect(Object.keys(sent).sort()).toEqual(['max_tokens', 'model', 'n', 'prompt', 'stream', 'stream_options', 'temperature', 'top_p']);
    await expectNoProblems(watched);
    await page.close();
  });
});
