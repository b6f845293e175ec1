// The proxy's configuration: its environment variables and the PROXY_CONFIG_FILE JSON, parsed with
// zod into one immutable ProxyConfig. Errors name the variable (or file field) and say what to do.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const positiveInt = z.coerce.number().int().positive();

/** Per-key limits; an absent field means that dimension is not limited. */
export const limitsSchema = z
  .object({
    requestsPerMinute: z.number().int().positive().optional(),
    tokensPerMinute: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().optional(),
  })
  .strict();
export type Limits = z.infer<typeof limitsSchema>;

const keyName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a key name is 1-64 letters, digits, "_", "." or "-" (it becomes a metric label)');
const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected a lowercase sha256 hex digest (npm run proxy:hash-key -- KEY prints one)');

export const clientKeySchema = z.object({ name: keyName, sha256: sha256Hex, limits: limitsSchema.optional() }).strict();
export type ClientKey = z.infer<typeof clientKeySchema>;

export const DEFAULT_LIMITS: Limits = { requestsPerMinute: 60, tokensPerMinute: 90_000, maxConcurrent: 10 };

/** Served when no config file names models: OpenAI's current small models, `default` for the chat one. */
export const DEFAULT_MODELS = {
  allow: ['gpt-4o-mini', 'gpt-3.5-turbo-instruct'],
  aliases: { default: 'gpt-4o-mini' } as Record<string, string>,
};

const modelsSchema = z
  .object({
    allow: z.array(z.string().min(1)).min(1, 'models.allow must name at least one upstream model'),
    aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
  })
  .strict()
  .superRefine((models, ctx) => {
    for (const [alias, target] of Object.entries(models.aliases)) {
      if (!models.allow.includes(target)) {
        ctx.addIssue({
          code: 'custom',
          path: ['aliases', alias],
          message: `alias "${alias}" points to "${target}", which is not in models.allow; add it there`,
        });
      }
    }
  });

export const proxyFileSchema = z
  .object({
    keys: z.array(clientKeySchema).default([]),
    defaultLimits: limitsSchema.default(DEFAULT_LIMITS),
    models: modelsSchema.default(DEFAULT_MODELS),
    /** The completion length assumed for the tokens-per-minute estimate when a request sets no max_tokens. */
    assumedMaxTokens: z.number().int().positive().default(256),
  })
  .strict();
export type ProxyFile = z.infer<typeof proxyFileSchema>;

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

const envSchema = z.object({
  UPSTREAM_BASE_URL: z.url().default('https://api.openai.com/v1'),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_API_KEY_FILE: z.string().min(1).optional(),
  PROXY_UPSTREAM_NO_AUTH: booleanFlag.default(false),
  OPENAI_ORGANIZATION: z.string().min(1).optional(),
  OPENAI_PROJECT: z.string().min(1).optional(),
  PROXY_CONFIG_FILE: z.string().min(1).optional(),
  PROXY_KEYS: z.string().optional(),
  PROXY_CONNECT_TIMEOUT_MS: positiveInt.default(5_000),
  PROXY_FIRST_BYTE_TIMEOUT_MS: positiveInt.default(120_000),
  PROXY_TOTAL_TIMEOUT_MS: positiveInt.default(600_000),
  PROXY_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  PROXY_RETRY_BASE_DELAY_MS: positiveInt.default(500),
  PROXY_RETRY_MAX_DELAY_MS: positiveInt.default(8_000),
  PROXY_ALLOW_ANONYMOUS: booleanFlag.default(false),
});

export interface UpstreamConfig {
  readonly baseURL: string;
  /** Null only when PROXY_UPSTREAM_NO_AUTH=true (a local upstream that takes no key). */
  readonly apiKey: string | null;
  readonly organization: string | undefined;
  readonly project: string | undefined;
  readonly connectTimeoutMs: number;
  readonly firstByteTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly maxRetries: number;
  readonly retryBaseDelayMs: number;
  /** Caps both the backoff and an upstream Retry-After. */
  readonly retryMaxDelayMs: number;
}

export interface ProxyConfig {
  readonly upstream: UpstreamConfig;
  readonly keys: readonly ClientKey[];
  readonly defaultLimits: Limits;
  readonly models: { readonly allow: readonly string[]; readonly aliases: Readonly<Record<string, string>> };
  readonly assumedMaxTokens: number;
  readonly allowAnonymous: boolean;
}

/** Thrown for any configuration mistake; the message names the variable and the fix. */
export class ProxyConfigError extends Error {
  override readonly name = 'ProxyConfigError';
}

function describeIssues(error: z.ZodError, where: (path: PropertyKey[]) => string): string {
  return error.issues.map((issue) => `${where(issue.path)}: ${issue.message}`).join('; ');
}

/** `name:sha256,name:sha256`, the PROXY_KEYS shorthand for keys without per-key limits. */
function parseKeyList(value: string): ClientKey[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry, index) => {
      const [name, sha256, ...rest] = entry.split(':');
      const parsed = clientKeySchema.safeParse({ name, sha256 });
      if (rest.length > 0 || !parsed.success) {
        const detail = parsed.success ? 'too many ":"' : describeIssues(parsed.error, (path) => path.join('.'));
        throw new ProxyConfigError(`PROXY_KEYS entry ${index + 1} is not name:sha256 (${detail})`);
      }
      return parsed.data;
    });
}

function readProxyFile(path: string): ProxyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ProxyConfigError(`PROXY_CONFIG_FILE=${path} could not be read as JSON: ${(error as Error).message}`);
  }
  const parsed = proxyFileSchema.safeParse(raw);
  if (!parsed.success) {
    const where = (path: PropertyKey[]) => (path.length > 0 ? path.join('.') : '(root)');
    throw new ProxyConfigError(
      `PROXY_CONFIG_FILE=${path} is invalid: ${describeIssues(parsed.error, where)} (see deploy/proxy.example.json)`,
    );
  }
  return parsed.data;
}

function readUpstreamKey(env: z.infer<typeof envSchema>): string | null {
  if (env.PROXY_UPSTREAM_NO_AUTH) return null;
  if (env.OPENAI_API_KEY !== undefined && env.OPENAI_API_KEY_FILE !== undefined) {
    throw new ProxyConfigError('set OPENAI_API_KEY or OPENAI_API_KEY_FILE, not both');
  }
  let key = env.OPENAI_API_KEY?.trim();
  if (env.OPENAI_API_KEY_FILE !== undefined) {
    try {
      key = readFileSync(env.OPENAI_API_KEY_FILE, 'utf8').trim();
    } catch (error) {
      throw new ProxyConfigError(
        `OPENAI_API_KEY_FILE=${env.OPENAI_API_KEY_FILE} could not be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  if (key === undefined || key.length === 0) {
    throw new ProxyConfigError(
      'OPENAI_API_KEY (or OPENAI_API_KEY_FILE) is required for the upstream; ' +
        'for a local upstream that takes no key set PROXY_UPSTREAM_NO_AUTH=true',
    );
  }
  return key;
}

/** Reads the proxy's environment (and the config file it names) into a ProxyConfig, or throws ProxyConfigError. */
export function loadProxyConfig(source: NodeJS.ProcessEnv): ProxyConfig {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    // Values are never echoed: some of these variables hold secrets.
    throw new ProxyConfigError(`invalid proxy environment: ${describeIssues(parsed.error, (path) => path.join('.'))}`);
  }
  const env = parsed.data;
  const file = env.PROXY_CONFIG_FILE === undefined ? proxyFileSchema.parse({}) : readProxyFile(env.PROXY_CONFIG_FILE);
  const keys = [...file.keys, ...(env.PROXY_KEYS === undefined ? [] : parseKeyList(env.PROXY_KEYS))];
  const names = new Set<string>();
  for (const key of keys) {
    if (names.has(key.name)) throw new ProxyConfigError(`client key name "${key.name}" is configured twice; names must be unique`);
    names.add(key.name);
  }
  if (env.PROXY_FIRST_BYTE_TIMEOUT_MS > env.PROXY_TOTAL_TIMEOUT_MS) {
    throw new ProxyConfigError('PROXY_FIRST_BYTE_TIMEOUT_MS must not exceed PROXY_TOTAL_TIMEOUT_MS');
  }
  return {
    upstream: {
      baseURL: env.UPSTREAM_BASE_URL,
      apiKey: readUpstreamKey(env),
      organization: env.OPENAI_ORGANIZATION,
      project: env.OPENAI_PROJECT,
      connectTimeoutMs: env.PROXY_CONNECT_TIMEOUT_MS,
      firstByteTimeoutMs: env.PROXY_FIRST_BYTE_TIMEOUT_MS,
      totalTimeoutMs: env.PROXY_TOTAL_TIMEOUT_MS,
      maxRetries: env.PROXY_MAX_RETRIES,
      retryBaseDelayMs: env.PROXY_RETRY_BASE_DELAY_MS,
      retryMaxDelayMs: env.PROXY_RETRY_MAX_DELAY_MS,
    },
    keys,
    defaultLimits: file.defaultLimits,
    models: file.models,
    assumedMaxTokens: file.assumedMaxTokens,
    allowAnonymous: env.PROXY_ALLOW_ANONYMOUS,
  };
}
