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
  it('applies the documented defaults', () => {
    const config = loadProxyConfig(base);
    expect(config.upstream).toMatchObject({
      baseURL: 'https://api.openai.com/v1',
      apiKey: 'sk-test-key',
      connectTimeoutMs: 5000,
      firstByteTimeoutMs: 120_000,
      totalTimeoutMs: 600_000,
      maxRetries: 2,
    });
    expect(config.keys).toEqual([{ name: 'alpha', sha256: HASH }]);
    expect(config.models.allow).toEqual(['gpt-4o-mini', 'gpt-3.5-turbo-instruct']);
    expect(config.allowAnonymous).toBe(false);
  });

  it.each([
    ['PROXY_MAX_RETRIES', 'many'],
    ['PROXY_FIRST_BYTE_TIMEOUT_MS', '-5'],
    ['UPSTREAM_BASE_URL', 'not a url'],
    ['PROXY_ALLOW_ANONYMOUS', 'yes'],
  ])('names %s when its value is invalid', (variable, value) => {
    expect(configError({ ...base, [variable]: value })).toContain(variable);
  });

  it('reads the upstream key from OPENAI_API_KEY_FILE, trimmed', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'proxy-key-')), 'key');
    writeFileSync(file, 'sk-from-file\n');
    expect(loadProxyConfig({ ...base, OPENAI_API_KEY: undefined, OPENAI_API_KEY_FILE: file }).upstream.apiKey).toBe('sk-from-file');
  });

  it('names OPENAI_API_KEY_FILE when the file cannot be read, without printing a key', () => {
    expect(configError({ ...base, OPENAI_API_KEY: undefined, OPENAI_API_KEY_FILE: '/nonexistent/key' })).toMatch(/OPENAI_API_KEY_FILE=\/nonexistent\/key .*ENOENT/);
  });

  it('requires an upstream key unless PROXY_UPSTREAM_NO_AUTH=true says the upstream takes none', () => {
    expect(configError({ ...base, OPENAI_API_KEY: undefined })).toMatch(/OPENAI_API_KEY.*PROXY_UPSTREAM_NO_AUTH=true/);
    expect(configError({ ...base, OPENAI_API_KEY: '  ' })).toMatch(/OPENAI_API_KEY/);
    expect(loadProxyConfig({ ...base, OPENAI_API_KEY: undefined, PROXY_UPSTREAM_NO_AUTH: 'true' }).upstream.apiKey).toBeNull();
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
    expect(configError({ ...base, PROXY_CONFIG_FILE: badAlias })).toMatch(/models\.aliases\.gpt2.*not in models\.allow/);
    const unknownField = writeProxyConfig({ defaultLimits: { rpm: 5 } });
    expect(configError({ ...base, PROXY_CONFIG_FILE: unknownField })).toMatch(/defaultLimits/);
    expect(configError({ ...base, PROXY_CONFIG_FILE: writeProxyConfig('{ not json') })).toMatch(/PROXY_CONFIG_FILE=.*could not be read as JSON/);
  });

  it('accepts deploy/proxy.example.json, which aliases the retired davinci models', () => {
    const config = loadProxyConfig({ ...base, PROXY_KEYS: undefined, PROXY_CONFIG_FILE: join(__dirname, '../../../deploy/proxy.example.json') });
    expect(config.keys.map((key) => key.name)).toEqual(['team-a', 'batch-jobs']);
    const catalog = new ModelCatalog(config.models);
    expect(catalog.resolve('text-davinci-003')).toBe('gpt-3.5-turbo-instruct');
    expect(catalog.resolve('text-davinci-002')).toBe('gpt-3.5-turbo-instruct');
    expect(catalog.resolve('gpt-4o-mini')).toBe('gpt-4o-mini');
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
