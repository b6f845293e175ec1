// Starts the real HTTP app on 127.0.0.1 (ephemeral port) around a given Backend, for tests; log
// lines are captured so tests can assert on them.
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Backend } from '../../service/backend';
import { buildApp, type AppOptions, type BuiltApp } from '../../service/http/app';
import { createKeyAuthenticator, hashKey } from '../../service/http/auth';

export interface TestServer {
  readonly url: string;
  readonly built: BuiltApp;
  readonly registry: Registry;
  /** Every JSON log line written so far. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<Omit<AppOptions, 'backend' | 'authenticator' | 'registry' | 'logger'>> {
  /** Plain keys by client name; none: auth disabled. */
  readonly keys?: Readonly<Record<string, string>>;
}

export async function startTestServer(backend: Backend, options: TestServerOptions = {}): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const registry = new Registry();
  const keys = Object.entries(options.keys ?? {}).map(([name, key]) => ({ name, sha256: hashKey(key) }));
  const built = await buildApp({
    ...options,
    backend,
    authenticator: createKeyAuthenticator(keys),
    registry,
    logger: pino({ level: 'debug' }, sink),
  });
  const address = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, built, registry, logs, close: () => built.app.close() };
}
