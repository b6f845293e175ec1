// The PROXY_CONFIG_FILE JSON (deploy/proxy.example.json): client keys, limits, models and aliases,
// and the upstreams each model is routed to, as a zod schema with the checks that span fields.
// Pure: reading keys from the environment or files is config.ts's job.
import { z } from 'zod';

/** Per-key limits; an absent field means that dimension is not limited. */
const limitsSchema = z
  .object({
    requestsPerMinute: z.number().int().positive().optional(),
    tokensPerMinute: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().optional(),
  })
  .strict();
export type Limits = z.infer<typeof limitsSchema>;

/** Names of keys and upstreams become metric labels. */
const labelName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, `a ${what} name is 1-64 letters, digits, "_", "." or "-" (it becomes a metric label)`);
const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected a lowercase sha256 hex digest (npm run proxy:hash-key -- KEY prints one)');

export const clientKeySchema = z.object({ name: labelName('key'), sha256: sha256Hex, limits: limitsSchema.optional() }).strict();
export type ClientKey = z.infer<typeof clientKeySchema>;

export const DEFAULT_LIMITS: Limits = { requestsPerMinute: 60, tokensPerMinute: 90_000, maxConcurrent: 10 };

/** Served when the config file names neither models nor upstreams: OpenAI's small models, `default` for the chat one. */
export const DEFAULT_MODELS = {
  allow: ['gpt-4o-mini', 'gpt-3.5-turbo-instruct'],
  aliases: { default: 'gpt-4o-mini' } as Record<string, string>,
};

const environmentVariable = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name, e.g. AZURE_OPENAI_API_KEY');

const upstreamSchema = z
  .object({
    name: labelName('upstream'),
    kind: z.enum(['openai', 'azure', 'openai-compatible'], 'expected openai, azure or openai-compatible'),
    baseURL: z.url(),
    /** The environment variable holding the upstream's key. */
    apiKeyEnv: environmentVariable.optional(),
    /** A file holding the key (a mounted secret); trimmed. */
    apiKeyFile: z.string().min(1).optional(),
    apiKey: z
      .never({ error: 'keys are never written in the config file: name an environment variable (apiKeyEnv) or a mounted file (apiKeyFile)' })
      .optional(),
    organization: z.string().min(1).optional(),
    project: z.string().min(1).optional(),
    /** Azure OpenAI: the deployments API (api-version, `api-key` header) or the v1 API (Bearer key). */
    api: z.enum(['deployments', 'v1']).optional(),
    apiVersion: z.string().min(1).optional(),
    /** The models it serves: names, or client model -> the name at this upstream (an Azure deployment). */
    models: z.union([
      z.array(z.string().min(1)).min(1, 'list at least one model'),
      z.record(z.string().min(1), z.string().min(1)).refine((map) => Object.keys(map).length > 0, 'map at least one model'),
    ]),
    /** Share of first attempts among the model's upstreams that have a weight (0 or none: fallback only). */
    weight: z.number().min(0).optional(),
  })
  .strict()
  .superRefine((upstream, ctx) => {
    if (upstream.apiKeyEnv !== undefined && upstream.apiKeyFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['apiKeyFile'], message: 'set apiKeyEnv or apiKeyFile, not both' });
    }
    if (upstream.kind !== 'openai-compatible' && upstream.apiKeyEnv === undefined && upstream.apiKeyFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['apiKeyEnv'], message: `an ${upstream.kind} upstream needs a key: set apiKeyEnv or apiKeyFile` });
    }
    if (upstream.kind !== 'azure') {
      for (const field of ['api', 'apiVersion'] as const) {
        if (upstream[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} is for kind "azure" only` });
      }
      return;
    }
    if (upstream.api !== 'v1' && upstream.apiVersion === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiVersion'],
        message: 'the Azure deployments API needs an apiVersion (e.g. "2024-10-21"); or set "api": "v1" for the v1 API',
      });
    }
    for (const field of ['organization', 'project'] as const) {
      if (upstream[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} is not used by Azure OpenAI` });
    }
    const path = new URL(upstream.baseURL).pathname;
    if (path !== '/' && path !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['baseURL'],
        message: 'for Azure, baseURL is the resource endpoint, e.g. https://NAME.openai.azure.com (the proxy adds /openai/...)',
      });
    }
  });
export type UpstreamEntry = z.infer<typeof upstreamSchema>;

const modelsSchema = z
  .object({
    /** What clients may ask for; default: every model the upstreams list. */
    allow: z.array(z.string().min(1)).min(1, 'models.allow must name at least one model').optional(),
    aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Model -> upstream names in fallback order; default: the upstreams that list it, in file order. */
    routes: z.record(z.string().min(1), z.array(z.string().min(1)).min(1, 'a route names at least one upstream')).optional(),
  })
  .strict();

/** Client model -> its name at the upstream. */
export function upstreamModels(upstream: UpstreamEntry): ReadonlyMap<string, string> {
  return Array.isArray(upstream.models)
    ? new Map(upstream.models.map((model) => [model, model]))
    : new Map(Object.entries(upstream.models));
}

export const proxyFileSchema = z
  .object({
    keys: z.array(clientKeySchema).default([]),
    defaultLimits: limitsSchema.default(DEFAULT_LIMITS),
    models: modelsSchema.optional(),
    /** The completion length assumed for the tokens-per-minute estimate when a request sets no maximum. */
    assumedMaxTokens: z.number().int().positive().default(256),
    /** Without it, the one upstream of UPSTREAM_BASE_URL and OPENAI_API_KEY serves every model. */
    upstreams: z.array(upstreamSchema).min(1, 'list at least one upstream, or leave upstreams out').optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    const upstreams = file.upstreams ?? [];
    const served = new Map(upstreams.map((upstream) => [upstream.name, upstreamModels(upstream)]));
    if (served.size < upstreams.length) {
      const seen = new Set<string>();
      for (const [index, upstream] of upstreams.entries()) {
        if (seen.has(upstream.name)) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'name'], message: `upstream "${upstream.name}" is listed twice` });
        seen.add(upstream.name);
      }
    }
    const allow =
      file.models?.allow ?? (file.upstreams === undefined ? DEFAULT_MODELS.allow : [...new Set(upstreams.flatMap((upstream) => [...upstreamModels(upstream).keys()]))]);
    for (const [alias, target] of Object.entries(file.models?.aliases ?? {})) {
      if (!allow.includes(target)) {
        ctx.addIssue({ code: 'custom', path: ['models', 'aliases', alias], message: `alias "${alias}" points to "${target}", which is not an allowed model; add it to models.allow` });
      }
    }
    if (file.upstreams === undefined) {
      if (file.models?.routes !== undefined) ctx.addIssue({ code: 'custom', path: ['models', 'routes'], message: 'routes name upstreams: list them under "upstreams"' });
      return;
    }
    const routes = file.models?.routes ?? {};
    for (const [model, names] of Object.entries(routes)) {
      if (!allow.includes(model)) ctx.addIssue({ code: 'custom', path: ['models', 'routes', model], message: `"${model}" is not an allowed model` });
      for (const [index, name] of names.entries()) {
        const models = served.get(name);
        if (models === undefined) ctx.addIssue({ code: 'custom', path: ['models', 'routes', model, index], message: `no upstream is named "${name}"` });
        else if (!models.has(model)) ctx.addIssue({ code: 'custom', path: ['models', 'routes', model, index], message: `upstream "${name}" does not list "${model}" in its models` });
      }
    }
    for (const model of allow) {
      if (routes[model] === undefined && ![...served.values()].some((models) => models.has(model))) {
        ctx.addIssue({ code: 'custom', path: ['models', 'allow'], message: `no upstream lists "${model}" in its models` });
      }
    }
  });
export type ProxyFile = z.infer<typeof proxyFileSchema>;
