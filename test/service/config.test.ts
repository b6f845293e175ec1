import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseApiKeys, readSecret } from '../../service/config';

const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      variant: 'inference',
      host: '127.0.0.1',
      port: 8080,
      model: { dir: undefined, id: 'onnx-community/gpt2-ONNX', revision: 'main', servedName: 'gpt2', dtype: 'fp32', file: undefined },
      engine: { executionProvider: 'cpu', intraOpThreads: undefined, maxBatchSize: 16, maxQueue: 64, prefillChunkTokens: 'auto', watchdogSeconds: 60, maxRestarts: 3 },
      apiKeys: [],
      drainTimeoutSeconds: 30,
      bodyLimitBytes: 1024 * 1024,
      logLevel: 'info',
      logContent: false,
      tls: undefined,
      playground: true,
    });
  });

  it('parses every variable it owns', () => {
    const config = loadConfig({
      VARIANT: 'proxy',
      HOST: '0.0.0.0',
      PORT: '9000',
      MODEL_DIR: '/models/gpt2',
      MODEL_DTYPE: 'q4f16',
      MODEL_FILE: 'onnx/decoder_model_merged_fp16.onnx',
      SERVED_MODEL_NAME: 'my-gpt2',
      EXECUTION_PROVIDER: 'cuda',
      INTRA_OP_THREADS: '4',
      MAX_BATCH_SIZE: '8',
      MAX_QUEUE: '0',
      PREFILL_CHUNK_TOKENS: '0',
      ENGINE_WATCHDOG_SECONDS: '5',
      ENGINE_MAX_RESTARTS: '0',
      API_KEYS: 'k1, k2',
      DRAIN_TIMEOUT_SECONDS: '5',
      LOG_LEVEL: 'debug',
      LOG_CONTENT: 'TRUE',
      PLAYGROUND: 'false',
    });
    expect(config).toMatchObject({
      variant: 'proxy',
      host: '0.0.0.0',
      port: 9000,
      model: { dir: '/models/gpt2', servedName: 'my-gpt2', dtype: 'q4f16', file: 'onnx/decoder_model_merged_fp16.onnx' },
      engine: { executionProvider: 'cuda', intraOpThreads: 4, maxBatchSize: 8, maxQueue: 0, prefillChunkTokens: 0, watchdogSeconds: 5, maxRestarts: 0 },
      apiKeys: ['k1', 'k2'],
      drainTimeoutSeconds: 5,
      logLevel: 'debug',
      logContent: true,
      playground: false,
    });
  });

  it('accepts EXECUTION_PROVIDER=webgpu', () => {
    expect(loadConfig({ EXECUTION_PROVIDER: 'webgpu' }).engine.executionProvider).toBe('webgpu');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', MODEL_DIR: '' })).toMatchObject({ port: 8080, model: { dir: undefined } });
  });

  it.each([
    ['PORT', 'abc', /PORT="abc": expected a whole number/],
    ['PORT', '70000', /PORT="70000": expected at most 65535/],
    ['VARIANT', 'gateway', /VARIANT="gateway": expected inference or proxy/],
    ['LOG_CONTENT', 'maybe', /LOG_CONTENT="maybe": expected true or false/],
    ['PLAYGROUND', 'off', /PLAYGROUND="off": expected true or false/],
    ['MAX_BATCH_SIZE', '0', /MAX_BATCH_SIZE="0": expected at least 1/],
    ['EXECUTION_PROVIDER', 'tpu', /EXECUTION_PROVIDER="tpu": expected cpu, cuda or webgpu/],
    ['MODEL_DTYPE', 'int4', /MODEL_DTYPE="int4": expected one of fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4/],
    ['MODEL_FILE', '../model.onnx', /MODEL_FILE="..\/model.onnx": expected a relative path to an .onnx file inside the model folder/],
    ['MODEL_FILE', '/abs/model.onnx', /MODEL_FILE="\/abs\/model.onnx": expected a relative path/],
    ['MODEL_FILE', 'onnx/model.bin', /MODEL_FILE="onnx\/model.bin": expected a relative path/],
    ['PREFILL_CHUNK_TOKENS', 'some', /PREFILL_CHUNK_TOKENS="some": expected auto or a whole number of tokens/],
    ['ENGINE_WATCHDOG_SECONDS', '0', /ENGINE_WATCHDOG_SECONDS="0": expected at least 1/],
    ['METRICS_PORT', 'metrics', /METRICS_PORT="metrics": expected a whole number/],
    ['METRICS_PORT', '65536', /METRICS_PORT="65536": expected at most 65535/],
    ['KEEP_ALIVE_TIMEOUT_SECONDS', '0', /KEEP_ALIVE_TIMEOUT_SECONDS="0": expected at least 1/],
    ['KEEP_ALIVE_TIMEOUT_SECONDS', '75s', /KEEP_ALIVE_TIMEOUT_SECONDS="75s": expected a whole number/],
  ])('stops with a message naming %s for a bad value', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('serves /metrics on PORT and keeps connections alive 75 s unless METRICS_PORT and KEEP_ALIVE_TIMEOUT_SECONDS say otherwise', () => {
    expect(loadConfig({})).toMatchObject({ metricsPort: undefined, keepAliveTimeoutSeconds: 75 });
    expect(loadConfig({ METRICS_PORT: '9464', KEEP_ALIVE_TIMEOUT_SECONDS: '605' })).toMatchObject({ metricsPort: 9464, keepAliveTimeoutSeconds: 605 });
  });

  it('refuses a METRICS_PORT equal to PORT, naming both', () => {
    expect(() => loadConfig({ PORT: '9000', METRICS_PORT: '9000' })).toThrow(/METRICS_PORT=9000 is also PORT/);
    expect(() => loadConfig({ METRICS_PORT: '8080' })).toThrow(ConfigError);
    expect(loadConfig({ PORT: '0', METRICS_PORT: '0' })).toMatchObject({ port: 0, metricsPort: 0 });
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' })).toThrow(/PORT=.*\n.*LOG_LEVEL=/);
  });

  it('reads API keys from API_KEYS_FILE, one per line, skipping comments', () => {
    const path = file('keys', '# team keys\nsk-one\n\nsk-two,sk-three\n');
    expect(loadConfig({ API_KEYS_FILE: path }).apiKeys).toEqual(['sk-one', 'sk-two', 'sk-three']);
  });

  it('refuses both API_KEYS and API_KEYS_FILE, and an unreadable file, naming the variable', () => {
    expect(() => loadConfig({ API_KEYS: 'a', API_KEYS_FILE: '/x' })).toThrow(/API_KEYS or API_KEYS_FILE, not both/);
    expect(() => loadConfig({ API_KEYS_FILE: join(dir, 'missing') })).toThrow(/API_KEYS_FILE=.*missing: cannot read the file \(ENOENT\)/);
  });

  it('loads TLS files when both are set and refuses only one of them', () => {
    const cert = file('cert.pem', 'CERT');
    const key = file('key.pem', 'KEY');
    const config = loadConfig({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    expect(config.tls?.cert.toString()).toBe('CERT');
    expect(config.tls?.key.toString()).toBe('KEY');
    expect(() => loadConfig({ TLS_CERT_FILE: cert })).toThrow(/both TLS_CERT_FILE and TLS_KEY_FILE/);
  });
});

describe('secrets', () => {
  it('reads NAME or NAME_FILE', () => {
    expect(readSecret({ TOKEN: 'direct' }, 'TOKEN')).toBe('direct');
    expect(readSecret({ TOKEN_FILE: file('token', 'from-file') }, 'TOKEN')).toBe('from-file');
    expect(readSecret({}, 'TOKEN')).toBeUndefined();
  });

  it('splits keys on commas and newlines', () => {
    expect(parseApiKeys(' a ,b\nc\n#d\n')).toEqual(['a', 'b', 'c']);
    expect(parseApiKeys(undefined)).toEqual([]);
  });
});
