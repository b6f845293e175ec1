// The proxy's configuration: its environment variables and the PROXY_CONFIG_FILE JSON, parsed with
// zod into one immutable ProxyConfig. loadProxyConfig reads everything afresh on each call, so a
// reload is another call. Errors name the variable (or file field) and say what to do.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  type ClientKey,
  clientKeySchema,
  DEFAULT_MODELS,
  type Limits,
  type ProxyFile,
  proxyFileSchema,
  type UpstreamEntry,
  upstreamModels,
} from './config-file';

export { DEFAULT_LIMITS, DEFAULT_MODELS, type ClientKey, type Limits } from './config-file';

const positiveInt = z.coerce.number().int().positive();
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
  PROXY_STREAM_IDLE_TIMEOUT_MS: positiveInt.default(120_000),
  PROXY_TOTAL_TIMEOUT_MS: positiveInt.default(600_000),
  PROXY_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  PROXY_RETRY_BASE_DELAY_MS: positiveInt.default(500),
  PROXY_RETRY_MAX_DELAY_MS: positiveInt.default(8_000),
  PROXY_COOLDOWN_AFTER_FAILURES: z.coerce.number().int().min(1).max(1000).default(3),
  PROXY_COOLDOWN_MS: positiveInt.default(30_000),
  PROXY_ALLOW_ANONYMOUS: booleanFlag.default(false),
});
type Env = z.infer<typeof envSchema>;

export type UpstreamKind = 'openai' | 'azure' | 'openai-compatible';

export interface UpstreamConfig {
  /** Its name in logs, metrics and routes; `default` for the one from UPSTREAM_BASE_URL. */
  readonly name: string;
  readonly kind: UpstreamKind;
  readonly baseURL: string;
  /** Null for an upstream that takes no key (PROXY_UPSTREAM_NO_AUTH, or an openai-compatible one without a key). */
  readonly apiKey: string | null;
  readonly organization: string | undefined;
  readonly project: string | undefined;
  /** Azure OpenAI only: which API, and the api-version the deployments API needs. */
  readonly azure: { readonly api: 'deployments' | 'v1'; readonly apiVersion: string | undefined } | undefined;
  /** Share of first attempts; undefined: used as the list order says (fallback). */
  readonly weight: number | undefined;
}

/** One place a model can be served: an upstream and the model's name there (an Azure deployment). */
export interface RouteTarget {
  readonly upstream: string;
  readonly upstreamModel: string;
}

export interface ProxyConfig {
  readonly upstreams: readonly UpstreamConfig[];
  /** Allowed model -> where it is served, in fallback order. */
  readonly routes: ReadonlyMap<string, readonly RouteTarget[]>;
  readonly keys: readonly ClientKey[];
  readonly defaultLimits: Limits;
  readonly models: { readonly allow: readonly string[]; readonly aliases: Readonly<Record<string, string>> };
  readonly assumedMaxTokens: number;
  readonly allowAnonymous: boolean;
  readonly timeouts: {
    readonly connectMs: number;
    /** Streams: to the response headers and first event. A non-streaming answer has only the total timeout. */
    readonly firstByteMs: number;
    /** Streams: the longest gap between two events once the first arrived. */
    readonly streamIdleMs: number;
    /** A request's whole life: retries, waiting and streaming included. */
    readonly totalMs: number;
  };
  readonly retries: {
    readonly max: number;
    readonly baseDelayMs: number;
    /** Caps the backoff and an upstream Retry-After the proxy waits; a longer Retry-After goes back to the client. */
    readonly maxDelayMs: number;
  };
  readonly cooldown: {
    /** Failures in a row after which an upstream's route for a model is taken out of rotation. */
    readonly afterFailures: number;
    readonly durationMs: number;
  };
  /** Upstreams configured in the file make UPSTREAM_BASE_URL and its variables unused (logged at start). */
  readonly ignoredEnvironment: readonly string[];
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
    const where = (issuePath: PropertyKey[]) => (issuePath.length > 0 ? issuePath.join('.') : '(root)');
    throw new ProxyConfigError(`PROXY_CONFIG_FILE=${path} is invalid: ${describeIssues(parsed.error, where)} (see deploy/proxy.example.json)`);
  }
  return parsed.data;
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ProxyConfigError(`${what}=${path} could not be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The key of the one upstream the environment describes. */
function readEnvironmentKey(env: Env): string | null {
  if (env.PROXY_UPSTREAM_NO_AUTH) return null;
  if (env.OPENAI_API_KEY !== undefined && env.OPENAI_API_KEY_FILE !== undefined) {
    throw new ProxyConfigError('set OPENAI_API_KEY or OPENAI_API_KEY_FILE, not both');
  }
  const key = env.OPENAI_API_KEY_FILE !== undefined ? readKeyFile(env.OPENAI_API_KEY_FILE, 'OPENAI_API_KEY_FILE') : env.OPENAI_API_KEY?.trim();
  if (key === undefined || key.length === 0) {
    throw new ProxyConfigError(
      'OPENAI_API_KEY (or OPENAI_API_KEY_FILE) is required for the upstream; ' +
        'for a local upstream that takes no key set PROXY_UPSTREAM_NO_AUTH=true, or list upstreams in PROXY_CONFIG_FILE',
    );
  }
  return key;
}

function environmentUpstream(env: Env): UpstreamConfig {
  return {
    name: 'default',
    kind: new URL(env.UPSTREAM_BASE_URL).hostname === 'api.openai.com' ? 'openai' : 'openai-compatible',
    baseURL: env.UPSTREAM_BASE_URL,
    apiKey: readEnvironmentKey(env),
    organization: env.OPENAI_ORGANIZATION,
    project: env.OPENAI_PROJECT,
    azure: undefined,
    weight: undefined,
  };
}

function fileUpstream(entry: UpstreamEntry, source: NodeJS.ProcessEnv): UpstreamConfig {
  const where = `PROXY_CONFIG_FILE upstream "${entry.name}"`;
  let apiKey: string | null = null;
  if (entry.apiKeyEnv !== undefined) {
    apiKey = source[entry.apiKeyEnv]?.trim() ?? '';
    if (apiKey.length === 0) throw new ProxyConfigError(`${where}: apiKeyEnv names ${entry.apiKeyEnv}, which is not set; set it to the upstream's key`);
  } else if (entry.apiKeyFile !== undefined) {
    apiKey = readKeyFile(entry.apiKeyFile, `${where}: apiKeyFile`);
    if (apiKey.length === 0) throw new ProxyConfigError(`${where}: apiKeyFile ${entry.apiKeyFile} is empty`);
  }
  return {
    name: entry.name,
    kind: entry.kind,
    baseURL: entry.baseURL,
    apiKey,
    organization: entry.organization,
    project: entry.project,
    azure: entry.kind === 'azure' ? { api: entry.api ?? 'deployments', apiVersion: entry.apiVersion } : undefined,
    weight: entry.weight,
  };
}

/** Each allowed model's targets: the file's route, else the upstreams that list the model, in file order. */
function modelRoutes(allow: readonly string[], file: ProxyFile): Map<string, RouteTarget[]> {
  const entries = file.upstreams;
  const routes = new Map<string, RouteTarget[]>();
  for (const model of allow) {
    if (entries === undefined) {
      routes.set(model, [{ upstream: 'default', upstreamModel: model }]);
      continue;
    }
    const names = file.models?.routes?.[model] ?? entries.filter((entry) => upstreamModels(entry).has(model)).map((entry) => entry.name);
    routes.set(
      model,
      names.map((name) => ({ upstream: name, upstreamModel: upstreamModels(entries.find((entry) => entry.name === name)!).get(model)! })),
    );
  }
  return routes;
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
  const upstreams = file.upstreams === undefined ? [environmentUpstream(env)] : file.upstreams.map((entry) => fileUpstream(entry, source));
  const allow =
    file.models?.allow ??
    (file.upstreams === undefined ? DEFAULT_MODELS.allow : [...new Set(file.upstreams.flatMap((entry) => [...upstreamModels(entry).keys()]))]);
  const aliases = file.models?.aliases ?? (file.upstreams === undefined ? DEFAULT_MODELS.aliases : {});
  const ignoredEnvironment =
    file.upstreams === undefined
      ? []
      : (['UPSTREAM_BASE_URL', 'OPENAI_ORGANIZATION', 'OPENAI_PROJECT', 'PROXY_UPSTREAM_NO_AUTH'] as const).filter((name) => source[name] !== undefined);
  return {
    upstreams,
    routes: modelRoutes(allow, file),
    keys,
    defaultLimits: file.defaultLimits,
    models: { allow, aliases },
    assumedMaxTokens: file.assumedMaxTokens,
    allowAnonymous: env.PROXY_ALLOW_ANONYMOUS,
    timeouts: {
      connectMs: env.PROXY_CONNECT_TIMEOUT_MS,
      firstByteMs: env.PROXY_FIRST_BYTE_TIMEOUT_MS,
      streamIdleMs: env.PROXY_STREAM_IDLE_TIMEOUT_MS,
      totalMs: env.PROXY_TOTAL_TIMEOUT_MS,
    },
    retries: { max: env.PROXY_MAX_RETRIES, baseDelayMs: env.PROXY_RETRY_BASE_DELAY_MS, maxDelayMs: env.PROXY_RETRY_MAX_DELAY_MS },
    cooldown: { afterFailures: env.PROXY_COOLDOWN_AFTER_FAILURES, durationMs: env.PROXY_COOLDOWN_MS },
    ignoredEnvironment,
  };
}
