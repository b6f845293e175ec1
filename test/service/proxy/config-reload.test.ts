// PROXY_CONFIG_FILE reloaded while the proxy runs (the real backend and HTTP app on 127.0.0.1): a key
// added works and a key removed is refused at once, limits and models change, a file replaced by a
// rename (as secret mounts and editors do) is followed, and an invalid file is refused with a log
// line naming the problem while the previous config keeps serving. The service process re-reads the
// file on SIGHUP.
import { renameSync, writeFileSync } from 'node:fs';
import { hashKey } from '../../../service/http/auth';
import { startService } from '../../support/service-process';
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy, UPSTREAM_KEY } from './support/harness';

const BETA_KEY = 'client-key-beta';
const alpha = { name: 'alpha', sha256: hashKey(CLIENT_KEY) };
const beta = { name: 'beta', sha256: hashKey(BETA_KEY) };
const request = { model: 'gpt-3.5-turbo-instruct', prompt: 'hello', max_tokens: 4 };

const upstream = new FakeUpstream();
let upstreamUrl: string;
let path: string;
let proxy: ServedProxy;

beforeAll(async () => {
  upstreamUrl = await upstream.start();
});
afterAll(() => upstream.stop());
beforeEach(async () => {
  upstream.reset();
  path = writeProxyConfig({ keys: [alpha], defaultLimits: {} });
  proxy = await serveProxy(proxyEnv(upstreamUrl, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: path }));
});
afterEach(() => proxy.close());

/** Resolves once the proxy has logged `msg` `count` times in all. */
const loggedTimes = (msg: string, count: number) => proxy.log.waitFor(() => proxy.log.entries().filter((entry) => entry.msg === msg).length >= count);
const reloaded = (count: number) => loggedTimes('proxy config reloaded', count);

/** Replaces the file as a secret mount or an editor does: a new file renamed over the old one. */
function replaceConfig(content: unknown): void {
  writeFileSync(`${path}.next`, typeof content === 'string' ? content : JSON.stringify(content));
  renameSync(`${path}.next`, path);
}

it('serves a key added to the file, and refuses a key removed from it, without a restart', async () => {
  expect((await proxy.post('/v1/completions', request, BETA_KEY)).status).toBe(401);
  replaceConfig({ keys: [alpha, beta], defaultLimits: {} });
  expect(await reloaded(1)).toBeDefined();
  expect(proxy.log.entries().find((entry) => entry.msg === 'proxy config reloaded')).toMatchObject({ trigger: 'file changed', keysAdded: ['beta'], keysRemoved: [] });
  expect((await proxy.post('/v1/completions', request, BETA_KEY)).status).toBe(200);

  replaceConfig({ keys: [beta], defaultLimits: {} });
  await reloaded(2);
  const revoked = await proxy.post('/v1/completions', request);
  expect(revoked.status).toBe(401);
  expect(await revoked.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
  expect((await proxy.post('/v1/completions', request, BETA_KEY)).status).toBe(200);
});

it('applies changed limits and models to the next request, keeping what the key used', async () => {
  replaceConfig({ keys: [{ ...alpha, limits: { requestsPerMinute: 1 } }], defaultLimits: {} });
  await reloaded(1);
  expect((await proxy.post('/v1/completions', request)).status).toBe(200);
  expect((await proxy.post('/v1/completions', request)).status).toBe(429);
  expect((await proxy.post('/v1/completions', { ...request, model: 'gpt2' })).status).toBe(404);

  replaceConfig({ keys: [{ ...alpha, limits: { requestsPerMinute: 2 } }], defaultLimits: {}, models: { allow: ['gpt-3.5-turbo-instruct', 'gpt2'] } });
  await reloaded(2);
  const raised = await proxy.post('/v1/completions', { ...request, model: 'gpt2' });
  expect(raised.status).toBe(200);
  expect(raised.headers.get('x-ratelimit-limit-requests')).toBe('2');
  expect((await proxy.post('/v1/completions', request)).status).toBe(429);
});

it('refuses an invalid file with a log line naming the problem, and keeps serving the previous config', async () => {
  const refusals = () => proxy.log.entries().filter((entry) => String(entry.msg).startsWith('proxy config reload refused, the previous config stays'));
  const refusedTimes = (count: number) => proxy.log.waitFor(() => refusals().length >= count);

  replaceConfig({ keys: [alpha, { name: 'beta', sha256: 'not-a-digest' }] });
  await refusedTimes(1);
  expect(refusals()[0]).toMatchObject({ level: 50, trigger: 'file changed' });
  expect(String(refusals()[0]?.error)).toContain(`PROXY_CONFIG_FILE=${path} is invalid: keys.1.sha256: expected a lowercase sha256 hex digest`);
  expect((await proxy.post('/v1/completions', request)).status).toBe(200);

  replaceConfig('{ "keys": [');
  await refusedTimes(2);
  expect(String(refusals()[1]?.error)).toContain('could not be read as JSON');

  // Valid JSON, but without keys the proxy would be open to anyone.
  replaceConfig({ keys: [], defaultLimits: {} });
  await refusedTimes(3);
  expect(String(refusals()[2]?.error)).toContain('the proxy has no client keys');
  expect((await proxy.post('/v1/completions', request)).status).toBe(200);
  expect(await proxy.metrics()).toContain('proxy_config_reloads_total{result="refused"} 3');
});

it('re-reads the file on SIGHUP in the service process', async () => {
  const service = startService({
    VARIANT: 'proxy',
    UPSTREAM_BASE_URL: upstreamUrl,
    OPENAI_API_KEY: UPSTREAM_KEY,
    PROXY_CONFIG_FILE: writeProxyConfig({ keys: [alpha] }),
  });
  try {
    const url = await service.listening;
    const waitForReload = new Promise<void>((resolve) => {
      const check = () => {
        if (!/"trigger":"SIGHUP".*"msg":"proxy config reloaded"/.test(service.output())) return;
        service.child.stdout!.off('data', check);
        resolve();
      };
      service.child.stdout!.on('data', check);
    });
    service.child.kill('SIGHUP');
    await waitForReload;
    const response = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    expect(response.status).toBe(200);
  } finally {
    service.child.kill('SIGTERM');
    await service.exited;
  }
});
