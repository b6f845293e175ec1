// The proxy's configuration: env and config file parsing, errors that name the variable, secrets
// from mounted files, and the refusal to start without client keys.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { hashKey } from '../../../service/http/auth';
import { createProxyBackend } from '../../../service/proxy/backend';
import { loadProxyConfig, ProxyConfigError } from '../../../service/proxy/config';
import { ModelCatalog } from '../../../service/proxy/models';
import { writeProxyConfig } from './support/config-file';
import { capturedLogger } from './support/harness';

const HASH = hashKey('client-key');
const base: NodeJS.ProcessEnv = { OPENAI_API_KEY: 'sk-test-key', PROXY_KEYS: `alpha:${HASH}` };

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadProxyConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ProxyConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadProxyConfig to throw');
}

describe('loadProxyConfig', () => {
  it('applies the documented defaults: one OpenAI upstream from the environment serving every model', () => {
    const config = loadProxyConfig(base);
    expect(config.upstreams).toEqual([
      { name: 'default', kind: 'openai', baseURL: 'https://api.openai.com/v1', apiKey: 'sk-test-key', organization: undefined, project: undefined, azure: undefined, weight: undefined },
    ]);
    expect(config.timeouts).toEqual({ connectMs: 5000, firstByteMs: 120_000, streamIdleMs: 120_000, totalMs: 600_000 });
    expect(config.retries).toEqual({ max: 2, baseDelayMs: 500, maxDelayMs: 8000 });
    expect(config.cooldown).toEqual({ afterFailures: 3, durationMs: 30_000 });
    expect(config.keys).toEqual([{ name: 'alpha', sha256: HASH }]);
    expect(config.models.allow).toEqual(['gpt-4o-mini', 'gpt-3.5-turbo-instruct']);
    expect([...config.routes]).toEqual([
      ['gpt-4o-mini', [{ upstream: 'default', upstreamModel: 'gpt-4o-mini' }]],
      ['gpt-3.5-turbo-instruct', [{ upstream: 'default', upstreamModel: 'gpt-3.5-turbo-instruct' }]],
    ]);
    expect(config.allowAnonymous).toBe(false);
  });

  it('calls a non-OpenAI UPSTREAM_BASE_URL an openai-compatible upstream', () => {
    expect(loadProxyConfig({ ...base, UPSTREAM_BASE_URL: 'http://127.0.0.1:8000/v1' }).upstreams[0]?.kind).toBe('openai-compatible');
  });

  it.each([
    ['PROXY_MAX_RETRIES', 'many'],
    ['PROXY_FIRST_BYTE_TIMEOUT_MS', '-5'],
    ['UPSTREAM_BASE_URL', 'not a url'],
    ['PROXY_ALLOW_ANONYMOUS', 'yes'],
    ['PROXY_STREAM_IDLE_TIMEOUT_MS', '0'],
    ['PROXY_COOLDOWN_AFTER_FAILURES', '0'],
  ])('names %s when its value is invalid', (variable, value) => {
    expect(configError({ ...base, [variable]: value })).toContain(variable);
  });

  it('reads the upstream key from OPENAI_API_KEY_FILE, trimmed', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'proxy-key-')), 'key');
    writeFileSync(file, 'sk-from-file\n');
    expect(loadProxyConfig({ ...base, OPENAI_API_KEY: undefined, OPENAI_API_KEY_FILE: file }).upstreams[0]?.apiKey).toBe('sk-from-file');
  });

  it('names OPENAI_API_KEY_FILE when the file cannot be read, without printing a key', () => {
    expect(configError({ ...base, OPENAI_API_KEY: undefined, OPENAI_API_KEY_FILE: '/nonexistent/key' })).toMatch(/OPENAI_API_KEY_FILE=\/nonexistent\/key .*ENOENT/);
  });

  it('requires an upstream key unless PROXY_UPSTREAM_NO_AUTH=true says the upstream takes none', () => {
    expect(configError({ ...base, OPENAI_API_KEY: undefined })).toMatch(/OPENAI_API_KEY.*PROXY_UPSTREAM_NO_AUTH=true/);
    expect(configError({ ...base, OPENAI_API_KEY: '  ' })).toMatch(/OPENAI_API_KEY/);
    expect(loadProxyConfig({ ...base, OPENAI_API_KEY: undefined, PROXY_UPSTREAM_NO_AUTH: 'true' }).upstreams[0]?.apiKey).toBeNull();
  });

  it('does not echo a secret value in its error', () => {
    expect(configError({ ...base, PROXY_MAX_RETRIES: 'sk-pasted-by-mistake' })).not.toContain('sk-pasted-by-mistake');
  });

  it('rejects a malformed PROXY_KEYS entry by position', () => {
    expect(configError({ ...base, PROXY_KEYS: `alpha:${HASH},beta:not-a-hash` })).toMatch(/PROXY_KEYS entry 2/);
  });

  it('rejects a key name configured twice', () => {
    expect(configError({ ...base, PROXY_KEYS: `alpha:${HASH},alpha:${hashKey('other')}` })).toMatch(/"alpha" is configured twice/);
  });

  it('names the config file field that is wrong', () => {
    const badHash = writeProxyConfig({ keys: [{ name: 'a', sha256: 'xyz' }] });
    expect(configError({ ...base, PROXY_CONFIG_FILE: badHash })).toMatch(/keys\.0\.sha256/);
    const badAlias = writeProxyConfig({ models: { allow: ['gpt-4o-mini'], aliases: { gpt2: 'gpt-4' } } });
    expect(configError({ ...base, PROXY_CONFIG_FILE: badAlias })).toMatch(/models\.aliases\.gpt2.*not an allowed model; add it to models\.allow/);
    const unknownField = writeProxyConfig({ defaultLimits: { rpm: 5 } });
    expect(configError({ ...base, PROXY_CONFIG_FILE: unknownField })).toMatch(/defaultLimits/);
    expect(configError({ ...base, PROXY_CONFIG_FILE: writeProxyConfig('{ not json') })).toMatch(/PROXY_CONFIG_FILE=.*could not be read as JSON/);
  });

  it('accepts deploy/proxy.example.json: OpenAI with an Azure OpenAI fallback, and aliases for the retired davinci models', () => {
    const config = loadProxyConfig({
      ...base,
      PROXY_KEYS: undefined,
      AZURE_OPENAI_API_KEY: 'azure-key',
      PROXY_CONFIG_FILE: join(__dirname, '../../../deploy/proxy.example.json'),
    });
    expect(config.keys.map((key) => key.name)).toEqual(['team-a', 'batch-jobs']);
    const catalog = new ModelCatalog(config.models);
    expect(catalog.resolve('text-davinci-003')).toBe('gpt-3.5-turbo-instruct');
    expect(catalog.resolve('text-davinci-002')).toBe('gpt-3.5-turbo-instruct');
    expect(catalog.resolve('gpt-4o-mini')).toBe('gpt-4o-mini');
    expect(config.routes.get('gpt-4o-mini')).toEqual([
      { upstream: 'openai', upstreamModel: 'gpt-4o-mini' },
      { upstream: 'azure-eastus', upstreamModel: 'gpt-4o-mini-prod' },
    ]);
    expect(config.upstreams.find((upstream) => upstream.name === 'azure-eastus')).toMatchObject({
      kind: 'azure',
      apiKey: 'azure-key',
      azure: { api: 'deployments', apiVersion: '2024-10-21' },
    });
  });
});

describe('upstreams in PROXY_CONFIG_FILE', () => {
  const openai = { name: 'openai', kind: 'openai', baseURL: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', models: ['gpt-4o-mini', 'gpt-4o'] };
  const azure = { name: 'azure', kind: 'azure', baseURL: 'https://res.openai.azure.com', apiVersion: '2024-10-21', apiKeyEnv: 'AZURE_KEY', models: { 'gpt-4o-mini': 'mini-prod' } };
  const env = (file: unknown, extra: NodeJS.ProcessEnv = {}) => ({ ...base, AZURE_KEY: 'azure-secret', PROXY_CONFIG_FILE: writeProxyConfig(file), ...extra });

  it('serves every listed model, routed to the upstreams that list it in file order, with keys from variables and files', () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'proxy-key-')), 'local');
    writeFileSync(keyFile, ' local-key \n');
    const local = { name: 'vllm', kind: 'openai-compatible', baseURL: 'http://10.0.0.5:8000/v1', apiKeyFile: keyFile, models: ['gpt-4o-mini'], weight: 2 };
    const config = loadProxyConfig(env({ upstreams: [openai, azure, local] }));
    expect(config.models.allow).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(config.routes.get('gpt-4o-mini')).toEqual([
      { upstream: 'openai', upstreamModel: 'gpt-4o-mini' },
      { upstream: 'azure', upstreamModel: 'mini-prod' },
      { upstream: 'vllm', upstreamModel: 'gpt-4o-mini' },
    ]);
    expect(config.upstreams.map((upstream) => [upstream.name, upstream.apiKey, upstream.weight])).toEqual([
      ['openai', 'sk-test-key', undefined],
      ['azure', 'azure-secret', undefined],
      ['vllm', 'local-key', 2],
    ]);
  });

  it('follows an explicit route order, and says the single-upstream variables are unused', () => {
    const config = loadProxyConfig(env({ upstreams: [openai, azure], models: { routes: { 'gpt-4o-mini': ['azure', 'openai'] } } }, { UPSTREAM_BASE_URL: 'https://example.com/v1' }));
    expect(config.routes.get('gpt-4o-mini')?.map((target) => target.upstream)).toEqual(['azure', 'openai']);
    expect(config.ignoredEnvironment).toEqual(['UPSTREAM_BASE_URL']);
  });

  it('accepts the Azure v1 API without an api-version', () => {
    const config = loadProxyConfig(env({ upstreams: [{ ...azure, apiVersion: undefined, api: 'v1' }] }));
    expect(config.upstreams[0]?.azure).toEqual({ api: 'v1', apiVersion: undefined });
  });

  it.each([
    ['an inline key', { upstreams: [{ ...openai, apiKey: 'sk-inline' }] }, /upstreams\.0\.apiKey: keys are never written in the config file/],
    ['an Azure upstream without apiVersion', { upstreams: [{ ...azure, apiVersion: undefined }] }, /upstreams\.0\.apiVersion: the Azure deployments API needs an apiVersion/],
    ['an Azure baseURL with a path', { upstreams: [{ ...azure, baseURL: 'https://res.openai.azure.com/openai/deployments/x' }] }, /upstreams\.0\.baseURL: for Azure, baseURL is the resource endpoint/],
    ['an OpenAI upstream without a key', { upstreams: [{ ...openai, apiKeyEnv: undefined }] }, /upstreams\.0\.apiKeyEnv: an openai upstream needs a key/],
    ['a route to an unknown upstream', { upstreams: [openai], models: { routes: { 'gpt-4o': ['openai', 'nope'] } } }, /models\.routes\.gpt-4o\.1: no upstream is named "nope"/],
    ['a route to an upstream without the model', { upstreams: [openai, azure], models: { routes: { 'gpt-4o': ['azure'] } } }, /upstream "azure" does not list "gpt-4o"/],
    ['an allowed model no upstream serves', { upstreams: [azure], models: { allow: ['gpt-4o-mini', 'gpt-4o'] } }, /no upstream lists "gpt-4o"/],
    ['two upstreams with one name', { upstreams: [openai, { ...openai }] }, /upstreams\.1\.name: upstream "openai" is listed twice/],
  ])('rejects %s, naming the field', (_label, file, message) => {
    expect(configError(env(file))).toMatch(message);
  });

  it('names the upstream and the variable when apiKeyEnv is not set, without printing a key', () => {
    const message = configError(env({ upstreams: [azure] }, { AZURE_KEY: undefined }));
    expect(message).toMatch(/upstream "azure": apiKeyEnv names AZURE_KEY, which is not set/);
  });
});

describe('createProxyBackend', () => {
  it('refuses to start without client keys', async () => {
    const log = capturedLogger();
    await expect(createProxyBackend({ OPENAI_API_KEY: 'sk-x' }, { registry: new Registry(), logger: log.logger })).rejects.toThrow(
      /no client keys.*PROXY_ALLOW_ANONYMOUS=true/,
    );
  });

  it('starts anonymously only with PROXY_ALLOW_ANONYMOUS=true, and warns', async () => {
    const log = capturedLogger();
    const { backend, authenticator } = await createProxyBackend(
      { OPENAI_API_KEY: 'sk-x', PROXY_ALLOW_ANONYMOUS: 'true' },
      { registry: new Registry(), logger: log.logger },
    );
    await backend.close();
    expect(authenticator.enabled).toBe(false);
    expect(log.lines.some((line) => JSON.parse(line).level === 40 && line.includes('PROXY_ALLOW_ANONYMOUS'))).toBe(true);
  });

  it('authenticates configured keys by name and refuses others', async () => {
    const { backend, authenticator } = await createProxyBackend(base, { registry: new Registry(), logger: capturedLogger().logger });
    await backend.close();
    expect(authenticator.enabled).toBe(true);
    expect(authenticator.identify('client-key')).toEqual({ name: 'alpha' });
    expect(authenticator.identify('client-key-wrong')).toBeUndefined();
  });
});
