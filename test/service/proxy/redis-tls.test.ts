// rediss:// against a real redis-server with TLS and an ACL user, its certificate signed by a CA of
// its own and naming the server only by its IP as the subject CN, as Memorystore's are: trusted with
// REDIS_CA_FILE's CA and the user's password, refused without the CA, with a wrong password, or (with
// REDIS_TLS_VERIFY=full) under a host name the certificate does not name. Needs openssl (Debian's).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ProxyMetrics } from '../../../service/proxy/metrics';
import { RedisConnection } from '../../../service/proxy/redis-connection';
import { LIMITER_SCRIPTS, RedisLimiter } from '../../../service/proxy/redis-limiter';
import type { TlsVerify } from '../../../service/proxy/redis-tls';
import { RedisServer } from '../../../scripts/redis-server';
import { capturedLogger, type CapturedLogger } from './support/harness';

const PASSWORD = 's3cret/with:odd@chars';
let folder: string;
let caPem: string;
let redis: RedisServer;
const connections: RedisConnection[] = [];

function openssl(...args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed (apt-get install -y openssl): ${(error as Error).message}`);
  }
}

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Test Redis server CA');
  // No subjectAltName: the IP is only the subject's CN, which Node alone would refuse.
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2');
  caPem = readFileSync(join(folder, 'ca.pem'), 'utf8');
  redis = await RedisServer.start({
    scheme: 'rediss',
    args: [
      ...['--tls-cert-file', join(folder, 'server.pem'), '--tls-key-file', join(folder, 'server.key'), '--tls-ca-cert-file', join(folder, 'ca.pem')],
      ...['--tls-auth-clients', 'no'],
      // An ACL user as ElastiCache's; the default user is off.
      ...['--user', 'proxy', 'on', `>${PASSWORD}`, '~*', '&*', '+@all', '--user', 'default', 'off'],
    ],
  });
});
afterAll(async () => {
  for (const connection of connections) await connection.close();
  await redis?.stop();
});

function connect(options: { host?: string; password?: string; ca?: string | undefined; verify?: TlsVerify }): { connection: RedisConnection; log: CapturedLogger; metrics: ProxyMetrics } {
  const log = capturedLogger();
  const metrics = new ProxyMetrics(new Registry());
  const url = `rediss://proxy:${encodeURIComponent(options.password ?? PASSWORD)}@${options.host ?? '127.0.0.1'}:${redis.port}`;
  const connection = new RedisConnection({
    url,
    timeoutMs: 2000,
    tlsVerify: options.verify ?? 'full',
    caCertificates: 'ca' in options ? options.ca : caPem,
    scripts: LIMITER_SCRIPTS,
    log: log.logger,
    metrics,
  });
  connections.push(connection);
  return { connection, log, metrics };
}

const unavailable = (log: CapturedLogger) => log.waitFor((entry) => entry.msg === 'shared state: Redis unavailable');

it('connects with the CA from REDIS_CA_FILE and the ACL user, and keeps limits there', async () => {
  const { connection, log, metrics } = connect({});
  await connection.start(20_000);
  expect(await log.waitFor((entry) => entry.msg === 'shared state: connected to Redis')).toMatchObject({ redis: `127.0.0.1:${redis.port}`, tls: true });
  const limiter = new RedisLimiter({ connection, failure: 'closed', leaseMs: 30_000, clock: Date.now, windowMs: 60_000, log: log.logger, metrics });
  const verdict = await limiter.admit({ client: 'tls', policy: { requestsPerMinute: 1 }, estimate: { tokens: 1, nanoUsd: 0 } });
  expect(verdict).toMatchObject({ admitted: true, grant: { store: 'redis' } });
  expect(await limiter.admit({ client: 'tls', policy: { requestsPerMinute: 1 }, estimate: { tokens: 1, nanoUsd: 0 } })).toMatchObject({ admitted: false, refusal: { kind: 'requests' } });
  // The password is in no log line.
  expect(log.lines.join('')).not.toContain('s3cret');
});

it("refuses a server whose CA it was not given", async () => {
  const { connection, log } = connect({ ca: undefined });
  void connection.start(0);
  expect(String((await unavailable(log)).cause)).toMatch(/certificate/);
  expect(connection.isAvailable()).toBe(false);
});

it('refuses a wrong password, naming the cause but not the password', async () => {
  const { connection, log } = connect({ password: 'wrong-password' });
  void connection.start(0);
  expect(String((await unavailable(log)).cause)).toMatch(/WRONGPASS/);
  expect(log.lines.join('')).not.toContain('wrong-password');
});

it('checks the name with REDIS_TLS_VERIFY=full and only the chain with chain', async () => {
  const full = connect({ host: 'localhost' });
  void full.connection.start(0);
  expect(String((await unavailable(full.log)).cause)).toMatch(/localhost/);
  const chain = connect({ host: 'localhost', verify: 'chain' });
  await chain.connection.start(20_000);
  await chain.log.waitFor((entry) => entry.msg === 'shared state: connected to Redis');
  expect(chain.connection.isAvailable()).toBe(true);
});
