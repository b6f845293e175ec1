// Test wiring for the proxy: the proxy backend from an env behind the real HTTP app on 127.0.0.1,
// a captured pino logger, the official openai client pointed at it, and plain HTTP helpers.
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from '../../../../service/http/app';
import { hashKey } from '../../../../service/http/auth';
import { createProxyBackend, type ProxyBackend } from '../../../../service/proxy/backend';

export const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdef';
export const CLIENT_KEY = 'client-key-alpha';

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: string[];
  /** Every line parsed. */
  entries(): Record<string, unknown>[];
  /** Resolves with the first line (already written or still to come) that `predicate` accepts. */
  waitFor(predicate: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export function capturedLogger(): CapturedLogger {
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      for (const listener of listeners) listener();
      callback();
    },
  });
  const entries = () => lines.flatMap((text) => text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as Record<string, unknown>));
  return {
    logger: pino({ level: 'debug' }, sink),
    lines,
    entries,
    waitFor: (predicate) =>
      new Promise((resolve) => {
        const check = () => {
          const found = entries().find(predicate);
          if (found === undefined) return;
          listeners.delete(check);
          resolve(found);
        };
        listeners.add(check);
        check();
      }),
  };
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

export interface ProxyExtras {
  readonly clock?: () => number;
  readonly rateWindowMs?: number;
  readonly random?: () => number;
  readonly logContent?: boolean;
}

export interface ServedProxy {
  readonly url: string;
  readonly backend: ProxyBackend;
  readonly registry: Registry;
  readonly log: CapturedLogger;
  /** The official client; `maxRetries` defaults to the SDK's own default (2); `fetch` sees what it sends. */
  client(options?: { apiKey?: string; maxRetries?: number; fetch?: typeof fetch }): OpenAI;
  /** POSTs JSON text (a string is sent as it is); `key: null` sends no Authorization header. */
  post(path: string, body: unknown, key?: string | null): Promise<Response>;
  /** The access-log line of each finished request, in order. */
  accessLog(): Record<string, unknown>[];
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** The proxy behind the real HTTP app on 127.0.0.1, sharing one registry and one captured logger. */
export async function serveProxy(env: NodeJS.ProcessEnv, extras: ProxyExtras = {}): Promise<ServedProxy> {
  const registry = new Registry();
  const log = capturedLogger();
  const { backend, authenticator } = await createProxyBackend(env, { registry, logger: log.logger, clock: extras.clock, rateWindowMs: extras.rateWindowMs, random: extras.random });
  const built = await buildApp({ backend, authenticator, registry, logger: log.logger, logContent: extras.logContent ?? false });
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    backend,
    registry,
    log,
    client: (options = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: options.apiKey ?? CLIENT_KEY, maxRetries: options.maxRetries, fetch: options.fetch }),
    post: (path, body, key = CLIENT_KEY) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    accessLog: () => log.entries().filter((entry) => entry.msg === 'request completed' || entry.msg === 'request aborted by the client'),
    metrics: async () => registry.metrics(),
    async close() {
      await built.app.close();
      await backend.close();
    },
  };
}

/** A fetch for the openai client that keeps the body text of each request it sends. */
export function recordingFetch(): { fetch: typeof fetch; sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    fetch: async (input, init) => {
      if (typeof init?.body === 'string') sent.push(init.body);
      return fetch(input, init);
    },
  };
}
