// The service's environment (docs/architecture.md) -> one typed, validated Config. A bad value
// stops start-up with a message naming the variable. Proxy-only variables are parsed by service/proxy.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PrefillChunking } from './engine/scheduler/chunk-budget';
import {
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_PREFILL_CHUNK_TOKENS,
  DEFAULT_WATCHDOG_SECONDS,
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
} from './engine/defaults';
import { MODEL_DTYPES, type ModelDtype } from './models/footprint';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS } from './http/server-timeouts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((value) => ['true', 'false', '1', '0', 'yes', 'no'].includes(value), 'expected true or false')
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/** A graph inside the model folder, as the hub lists it: `onnx/decoder_model_merged_fp16.onnx`. */
const graphPath = nonEmpty.refine(
  (path) => path.endsWith('.onnx') && !path.startsWith('/') && !path.includes('\\') && !path.split('/').includes('..'),
  'expected a relative path to an .onnx file inside the model folder, like onnx/model_fp16.onnx',
);

/** Each entry: the variable, its parser and its default (undefined: optional). */
const envSchema = z.object({
  VARIANT: z.enum(['inference', 'proxy'], 'expected inference or proxy').default('inference'),
  HOST: nonEmpty.default('127.0.0.1'),
  PORT: integer(0, 65535).default(8080),
  METRICS_PORT: integer(0, 65535).optional(),
  KEEP_ALIVE_TIMEOUT_SECONDS: integer(1, 3600).default(DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS),
  MODEL_DIR: nonEmpty.optional(),
  MODEL_ID: nonEmpty.default('onnx-community/gpt2-ONNX'),
  MODEL_REVISION: nonEmpty.default('main'),
  MODEL_DTYPE: z.enum(MODEL_DTYPES, `expected one of ${MODEL_DTYPES.join(', ')}`).default('fp32'),
  MODEL_FILE: graphPath.optional(),
  MODEL_CACHE_DIR: nonEmpty.optional(),
  SERVED_MODEL_NAME: nonEmpty.default('gpt2'),
  EXECUTION_PROVIDER: z.enum(EXECUTION_PROVIDERS, 'expected cpu, cuda or webgpu').default('cpu'),
  INTRA_OP_THREADS: integer(1, 1024).optional(),
  MAX_BATCH_SIZE: integer(1, 1024).default(DEFAULT_MAX_BATCH_SIZE),
  MAX_QUEUE: integer(0, 100_000).default(DEFAULT_MAX_QUEUE),
  PREFILL_CHUNK_TOKENS: z
    .union([z.literal('auto'), integer(0, 100_000)], 'expected auto or a whole number of tokens (0: whole prompts)')
    .default(DEFAULT_PREFILL_CHUNK_TOKENS),
  ENGINE_WATCHDOG_SECONDS: integer(1, 86_400).default(DEFAULT_WATCHDOG_SECONDS),
  ENGINE_MAX_RESTARTS: integer(0, 1000).default(DEFAULT_MAX_RESTARTS),
  DRAIN_TIMEOUT_SECONDS: integer(0, 3600).default(30),
  BODY_LIMIT_BYTES: integer(1024, 100 * 1024 * 1024).default(1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'expected a pino level (info, debug, ...)').default('info'),
  LOG_CONTENT: flag.default(false),
  TLS_CERT_FILE: nonEmpty.optional(),
  TLS_KEY_FILE: nonEmpty.optional(),
  PLAYGROUND: flag.default(true),
});

export interface Config {
  readonly variant: 'inference' | 'proxy';
  readonly host: string;
  readonly port: number;
  /** A second listener on HOST that alone serves /metrics (METRICS_PORT); undefined: /metrics on `port`. */
  readonly metricsPort: number | undefined;
  /** Idle keep-alive of the HTTP server; must outlast the load balancer's idle timeout in front of it. */
  readonly keepAliveTimeoutSeconds: number;
  readonly model: {
    readonly dir: string | undefined;
    readonly id: string;
    readonly revision: string;
    readonly cacheDir: string | undefined;
    readonly servedName: string;
    /** Which graph to load (transformers.js' dtype names); `file` overrides it. */
    readonly dtype: ModelDtype;
    readonly file: string | undefined;
  };
  readonly engine: {
    readonly executionProvider: ExecutionProvider;
    readonly intraOpThreads: number | undefined;
    readonly maxBatchSize: number;
    readonly maxQueue: number;
    /** Prompt tokens prefilled per step while other sequences decode: 'auto', a number, or 0 for whole prompts. */
    readonly prefillChunkTokens: PrefillChunking;
    /** Seconds without progress (requests in flight) before the engine worker counts as hung. */
    readonly watchdogSeconds: number;
    /** Engine worker restarts allowed within 10 minutes before the service exits non-zero. */
    readonly maxRestarts: number;
  };
  /** Inference variant's bearer keys (API_KEYS / API_KEYS_FILE); empty: no auth. */
  readonly apiKeys: readonly string[];
  readonly drainTimeoutSeconds: number;
  readonly bodyLimitBytes: number;
  readonly logLevel: string;
  readonly logContent: boolean;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Serve the playground page at GET / (PLAYGROUND). */
  readonly playground: boolean;
}

/** Reads NAME, or the file NAME_FILE points at (for secrets mounted as files); not both. */
export function readSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
    throw new ConfigError(`Set ${name} or ${name}_FILE, not both.`);
  }
  if (file !== undefined && file !== '') return readConfigFile(`${name}_FILE`, file).toString('utf8');
  return direct === '' ? undefined : direct;
}

/** API keys: separated by commas or newlines; blank entries and `#` comment lines are skipped. */
export function parseApiKeys(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(/[,\n]/)
    .map((key) => key.trim())
    .filter((key) => key !== '' && !key.startsWith('#'));
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // Empty variables count as unset: compose files and stacks often pass `NAME=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration (see the README's "Run the service"):\n  ${problems.join('\n  ')}`);
  }
  const values = parsed.data;
  if (values.METRICS_PORT !== undefined && values.METRICS_PORT !== 0 && values.METRICS_PORT === values.PORT) {
    throw new ConfigError(`METRICS_PORT=${values.METRICS_PORT} is also PORT: give metrics a port of their own (e.g. 9464), or unset METRICS_PORT to serve /metrics on PORT.`);
  }
  if ((values.TLS_CERT_FILE === undefined) !== (values.TLS_KEY_FILE === undefined)) {
    throw new ConfigError('Set both TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or neither for plain HTTP.');
  }
  return {
    variant: values.VARIANT,
    host: values.HOST,
    port: values.PORT,
    metricsPort: values.METRICS_PORT,
    keepAliveTimeoutSeconds: values.KEEP_ALIVE_TIMEOUT_SECONDS,
    model: {
      dir: values.MODEL_DIR,
      id: values.MODEL_ID,
      revision: values.MODEL_REVISION,
      cacheDir: values.MODEL_CACHE_DIR,
      servedName: values.SERVED_MODEL_NAME,
      dtype: values.MODEL_DTYPE,
      file: values.MODEL_FILE,
    },
    engine: {
      executionProvider: values.EXECUTION_PROVIDER,
      intraOpThreads: values.INTRA_OP_THREADS,
      maxBatchSize: values.MAX_BATCH_SIZE,
      maxQueue: values.MAX_QUEUE,
      prefillChunkTokens: values.PREFILL_CHUNK_TOKENS,
      watchdogSeconds: values.ENGINE_WATCHDOG_SECONDS,
      maxRestarts: values.ENGINE_MAX_RESTARTS,
    },
    apiKeys: parseApiKeys(readSecret(env, 'API_KEYS')),
    drainTimeoutSeconds: values.DRAIN_TIMEOUT_SECONDS,
    bodyLimitBytes: values.BODY_LIMIT_BYTES,
    logLevel: values.LOG_LEVEL,
    logContent: values.LOG_CONTENT,
    tls:
      values.TLS_CERT_FILE !== undefined && values.TLS_KEY_FILE !== undefined
        ? { cert: readConfigFile('TLS_CERT_FILE', values.TLS_CERT_FILE), key: readConfigFile('TLS_KEY_FILE', values.TLS_KEY_FILE) }
        : undefined,
    playground: values.PLAYGROUND,
  };
}

function readConfigFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${variable}=${path}: cannot read the file (${reason}); check the path and its permissions.`);
  }
}
