// The proxy Backend: model allowlist and aliases -> the client key's limits -> the upstream (timeouts,
// retries) -> the upstream's response, or its chunks relayed as they arrive. Also the factory main.ts calls.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Completion } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Backend, BackendResult, CompletionChunk, RequestContext } from '../backend';
import { ApiError } from '../http/api-error';
import { type Authenticator, createKeyAuthenticator } from '../http/auth';
import type { ChatCompletionRequest, CompletionRequest } from '../http/schemas';
import { type Limits, loadProxyConfig, type ProxyConfig, ProxyConfigError } from './config';
import { type Clock, type Lease, RateLimiter } from './limits';
import { ProxyMetrics } from './metrics';
import { ModelCatalog } from './models';
import { estimateTokens } from './token-estimate';
import { type Attempt, RequestDeadline, Upstream } from './upstream';
import type { UpstreamPath } from './upstream-client';
import { classifyFailure, InvalidUpstreamResponse } from './upstream-errors';

const ANONYMOUS = 'anonymous';

const usageSchema = z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });
type Usage = z.infer<typeof usageSchema>;
const bodySchema = z.looseObject({
  id: z.string(),
  object: z.string(),
  choices: z.array(z.looseObject({ index: z.number() })),
  usage: usageSchema.nullish(),
});
const chunkSchema = z.looseObject({ object: z.string(), choices: z.array(z.looseObject({})), usage: usageSchema.nullish() });

/** Checks the upstream's shape and returns the value itself, so its fields are relayed in the upstream's order. */
function validated<T>(schema: z.ZodType, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidUpstreamResponse(`upstream ${what} is not OpenAI-shaped: ${parsed.error.message}`);
  return value as T;
}

export interface ProxyBackendOptions {
  readonly config: ProxyConfig;
  readonly registry: Registry;
  readonly logger: Logger;
  /** The limiter's clock and window; tests shorten time instead of waiting a minute. */
  readonly clock?: Clock;
  readonly rateWindowMs?: number;
  /** Backoff jitter source; tests pin it. */
  readonly random?: () => number;
}

export class ProxyBackend implements Backend {
  readonly variant = 'proxy' as const;
  private readonly catalog: ModelCatalog;
  private readonly limiter: RateLimiter;
  private readonly metrics: ProxyMetrics;
  private readonly upstream: Upstream;
  private readonly inFlight = new Set<RequestDeadline>();
  private closed = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: ProxyBackendOptions) {
    const { config } = options;
    const perKey = new Map<string, Limits>(config.keys.map((key) => [key.name, { ...config.defaultLimits, ...key.limits }]));
    this.catalog = new ModelCatalog(config.models);
    this.limiter = new RateLimiter((client) => perKey.get(client) ?? config.defaultLimits, options.clock, options.rateWindowMs);
    this.metrics = new ProxyMetrics(options.registry);
    this.upstream = new Upstream(config.upstream, { metrics: this.metrics, random: options.random });
  }

  isReady(): boolean {
    return !this.closed;
  }

  async listModels(): Promise<Model[]> {
    return this.catalog.list();
  }

  createCompletion(request: CompletionRequest, ctx: RequestContext): Promise<BackendResult<Completion, CompletionChunk>> {
    return this.forward(request, ctx, '/completions');
  }

  createChatCompletion(
    request: ChatCompletionRequest,
    ctx: RequestContext,
  ): Promise<BackendResult<ChatCompletion, ChatCompletionChunk>> {
    return this.forward(request, ctx, '/chat/completions');
  }

  /** Refuses new requests, waits for in-flight ones (the caller bounds the wait by aborting their signals), then closes the pool. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.onIdle = resolve));
    await this.upstream.close();
  }

  private async forward<TBody, TChunk>(
    request: CompletionRequest | ChatCompletionRequest,
    ctx: RequestContext,
    path: UpstreamPath,
  ): Promise<BackendResult<TBody, TChunk>> {
    const client = ctx.client?.name ?? ANONYMOUS;
    let model = 'unknown';
    let lease: Lease | undefined;
    try {
      if (this.closed) {
        throw new ApiError({ status: 503, type: 'service_unavailable', code: 'shutting_down', message: 'The proxy is shutting down; retry on another instance.' });
      }
      model = this.catalog.resolve(request.model);
      lease = this.limiter.acquire(client, estimateTokens(request, this.options.config.assumedMaxTokens));
    } catch (error) {
      this.countRequest(client, model, error);
      throw error;
    }
    for (const [name, value] of Object.entries(lease.headers)) ctx.setHeader(name, value);
    const deadline = new RequestDeadline(ctx.signal, this.options.config.upstream.totalTimeoutMs);
    this.inFlight.add(deadline);
    let finished = false;
    const finish = (outcome: unknown, usage: Usage | null | undefined) => {
      if (finished) return;
      finished = true;
      if (usage) this.recordUsage(client, model, lease, usage);
      lease.release();
      deadline.dispose();
      this.inFlight.delete(deadline);
      if (this.inFlight.size === 0) this.onIdle?.();
      this.countRequest(client, model, outcome);
    };
    const body: Record<string, unknown> = { ...request, model };
    try {
      if (request.stream !== true) {
        const { value } = await this.upstream.call(model, deadline, ctx.log, async (signal) =>
          validated<TBody & { usage?: Usage | null }>(bodySchema, await this.upstream.client.post(path, body, signal), 'response'),
        );
        finish(undefined, value.usage);
        return { stream: false, body: value };
      }
      const wantsUsage = request.stream_options?.include_usage === true;
      // Usage is always asked for, to reconcile the token estimate; it is passed on only if the client asked.
      const streamBody = { ...body, stream_options: { ...request.stream_options, include_usage: true } };
      const { value, attempt } = await this.upstream.call(model, deadline, ctx.log, async (signal) => {
        const iterator = (await this.upstream.client.postStream(path, streamBody, signal))[Symbol.asyncIterator]();
        const first = await iterator.next();
        return { iterator, first };
      });
      // Whoever never reads the chunks still frees the key's slot once the client leaves or time runs out.
      deadline.signal.addEventListener(
        'abort',
        () => {
          attempt.abort('closed');
          finish(classifyFailure(undefined, deadline.cause, null).error, undefined);
        },
        { once: true },
      );
      return {
        stream: true,
        chunks: this.relay(value.first, value.iterator, { attempt, deadline, wantsUsage, finish }) as AsyncIterable<TChunk>,
      };
    } catch (error) {
      finish(error, undefined);
      throw error;
    }
  }

  /** Yields upstream chunks as they arrive; never retries (bytes may already be with the client). */
  private async *relay(
    first: IteratorResult<unknown>,
    iterator: AsyncIterator<unknown>,
    run: {
      attempt: Attempt;
      deadline: RequestDeadline;
      wantsUsage: boolean;
      finish: (outcome: unknown, usage: Usage | null | undefined) => void;
    },
  ): AsyncGenerator<unknown> {
    let usage: Usage | null | undefined;
    let outcome: unknown = new ApiError({ status: 499, type: 'service_unavailable', code: 'request_aborted', message: 'The client stopped reading.' });
    try {
      let next = first;
      while (next.done !== true) {
        const chunk = validated<{ choices: unknown[]; usage?: Usage | null }>(chunkSchema, next.value, 'stream chunk');
        usage = chunk.usage ?? usage;
        // The usage-only chunk (no choices) is the proxy's own request unless the client asked for it.
        if (run.wantsUsage || chunk.choices.length > 0) yield run.wantsUsage ? chunk : { ...chunk, usage: undefined };
        next = await iterator.next();
      }
      // The deadline may pass just as the upstream ends the stream (disconnect, total timeout): still a failure.
      if (run.deadline.signal.aborted) throw run.deadline.signal.reason;
      outcome = undefined;
    } catch (error) {
      const cause = run.deadline.cause;
      const failure = classifyFailure(error, cause, this.options.config.upstream.apiKey);
      this.metrics.upstreamErrors.inc({ status: failure.metricStatus });
      outcome =
        cause === undefined && failure.error.code !== 'upstream_invalid_response'
          ? new ApiError({
              status: 502,
              type: 'server_error',
              code: 'upstream_stream_interrupted',
              message: 'The upstream stream broke off part-way; the response is incomplete. Retry the request.',
            })
          : failure.error;
      throw outcome;
    } finally {
      run.attempt.abort('closed');
      run.finish(outcome, usage);
    }
  }

  private recordUsage(client: string, model: string, lease: Lease, usage: Usage): void {
    lease.reconcile(usage.total_tokens);
    this.metrics.tokens.inc({ client, model, kind: 'prompt' }, usage.prompt_tokens);
    this.metrics.tokens.inc({ client, model, kind: 'completion' }, usage.completion_tokens);
  }

  private countRequest(client: string, model: string, outcome: unknown): void {
    const status = outcome === undefined ? 200 : outcome instanceof ApiError ? outcome.status : 500;
    this.metrics.requests.inc({ client, model, status: String(status) });
  }
}

/**
 * Builds the proxy from the environment. Refuses to start without client keys unless
 * PROXY_ALLOW_ANONYMOUS=true: an open proxy spends the operator's upstream key for anyone.
 */
export async function createProxyBackend(
  env: NodeJS.ProcessEnv,
  deps: { registry: Registry; logger: Logger; clock?: Clock; rateWindowMs?: number; random?: () => number },
): Promise<{ backend: Backend; authenticator: Authenticator }> {
  const config = loadProxyConfig(env);
  if (config.keys.length === 0) {
    if (!config.allowAnonymous) {
      throw new ProxyConfigError(
        'the proxy has no client keys, so anyone could spend the upstream key: add keys to PROXY_CONFIG_FILE ' +
          '(or PROXY_KEYS=name:sha256; npm run proxy:hash-key -- KEY prints a hash), or set PROXY_ALLOW_ANONYMOUS=true for local development',
      );
    }
    deps.logger.warn('PROXY_ALLOW_ANONYMOUS=true and no client keys: every caller may use the upstream key (development only)');
  }
  const authenticator = createKeyAuthenticator(config.keys.map(({ name, sha256 }) => ({ name, sha256 })));
  const backend = new ProxyBackend({ config, ...deps });
  deps.logger.info(
    { upstream: new URL(config.upstream.baseURL).origin, clientKeys: config.keys.length, models: config.models.allow.length },
    'proxy backend configured',
  );
  return { backend, authenticator };
}
