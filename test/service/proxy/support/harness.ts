// Test wiring for the proxy: a proxy backend from an env over a given upstream, a RequestContext
// built by hand (as the HTTP layer would), and a pino logger whose output is captured.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Backend, RequestContext } from '../../../../service/backend';
import { buildApp } from '../../../../service/http/app';
import type { Authenticator } from '../../../../service/http/auth';
import { hashKey } from '../../../../service/http/auth';
import { createProxyBackend } from '../../../../service/proxy/backend';

export const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdef';
export const CLIENT_KEY = 'client-key-alpha';

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: string[];
}

export function capturedLogger(): CapturedLogger {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A proxy env with fast timeouts and retries for tests; `overrides` wins. */
export function proxyEnv(upstreamUrl: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    UPSTREAM_BASE_URL: upstreamUrl,
    OPENAI_API_KEY: UPSTREAM_KEY,
    PROXY_KEYS: `alpha:${hashKey(CLIENT_KEY)}`,
    PROXY_CONNECT_TIMEOUT_MS: '1000',
    // Generous, so that no test meets them by accident on a loaded machine (the first request in a
    // jest worker also warms up undici); tests of the timeouts set their own.
    PROXY_FIRST_BYTE_TIMEOUT_MS: '10000',
    PROXY_TOTAL_TIMEOUT_MS: '30000',
    PROXY_MAX_RETRIES: '2',
    PROXY_RETRY_BASE_DELAY_MS: '10',
    PROXY_RETRY_MAX_DELAY_MS: '100',
    ...overrides,
  };
}

export interface ProxyUnderTest {
  readonly backend: Backend;
  readonly authenticator: Authenticator;
  readonly registry: Registry;
  readonly log: CapturedLogger;
}

export async function startProxy(
  env: NodeJS.ProcessEnv,
  extra: { clock?: () => number; rateWindowMs?: number } = {},
): Promise<ProxyUnderTest> {
  const registry = new Registry();
  const log = capturedLogger();
  const { backend, authenticator } = await createProxyBackend(env, { registry, logger: log.logger, ...extra });
  return { backend, authenticator, registry, log };
}

export interface TestContext extends RequestContext {
  readonly headers: Record<string, string>;
  readonly controller: AbortController;
}

export function testContext(client: string | undefined, logger: Logger): TestContext {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  return {
    requestId: 'test-request',
    signal: controller.signal,
    client: client === undefined ? undefined : { name: client },
    log: logger,
    setHeader(name, value) {
      headers[name] = value;
    },
    headers,
    controller,
  };
}

export async function collect<T>(chunks: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

export interface ServedProxy extends ProxyUnderTest {
  readonly url: string;
  close(): Promise<void>;
}

/** The proxy behind the real HTTP app on 127.0.0.1, sharing one registry and one captured logger. */
export async function serveProxy(env: NodeJS.ProcessEnv, extra: { clock?: () => number } = {}): Promise<ServedProxy> {
  const proxy = await startProxy(env, extra);
  const built = await buildApp({ backend: proxy.backend, authenticator: proxy.authenticator, registry: proxy.registry, logger: proxy.log.logger });
  const address = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    ...proxy,
    url: address,
    async close() {
      await built.app.close();
      await proxy.backend.close();
    },
  };
}
