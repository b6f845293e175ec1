// The proxy Backend: for each relayed request, the few fields the proxy owns -> the model allowlist
// and aliases -> the key's limits -> attempts over the model's upstreams (fallback, cooldowns,
// timeouts, retries) -> the upstream's answer or stream relayed as it was written. Also the factory
// main.ts calls.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import type { ApiAnswer, ApiRequest, ApiRoute, Backend, RequestContext, RouteOptions } from '../backend';
import { ApiError } from '../http/api-error';
import { type Authenticator, createKeyAuthenticator } from '../http/auth';
import { Admission } from './admission';
import { loadProxyConfig, type ProxyConfig, ProxyConfigError } from './config';
import type { ProxyEndpoint } from './endpoints';
import { Exchange, type TokenCount } from './exchange';
import type { Clock } from './limits';
import { ProxyMetrics } from './metrics';
import { ModelCatalog } from './models';
import { answerTexts, parseAnswer, usageOf } from './payloads';
import { readRelayRequest, type RelayRequest } from './request-body';
import { type Target, UpstreamRouter } from './router';
import { proxyRoutes } from './routes';
import { openStream, relayFrames } from './stream-relay';
import { createStreamTracker, type StreamTracker } from './stream-tracker';
import { estimateTokens, INPUT_FIELDS, type TokenEstimate, tokensOfText } from './token-estimate';
import { RequestDeadline, UpstreamCaller } from './upstream';
import { UpstreamClient } from './upstream-client';
import { classifyFailure, RelayedUpstreamError, upstreamRequestId } from './upstream-errors';

const ANONYMOUS = 'anonymous';

export interface ProxyBackendOptions {
  readonly config: ProxyConfig;
  readonly registry: Registry;
  readonly logger: Logger;
  /** The limiter's and the cooldowns' clock, and the limiter's window; tests shorten time instead of waiting. */
  readonly clock?: Clock;
  readonly rateWindowMs?: number;
  /** Backoff jitter and weighted choice; tests pin it. */
  readonly random?: () => number;
}

function shuttingDown(): ApiError {
  return new ApiError({ status: 503, type: 'service_unavailable', code: 'shutting_down', message: 'The proxy is shutting down; retry on another instance.' });
}

function notServedOn(model: string, endpoint: ProxyEndpoint): ApiError {
  return new ApiError({
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param: 'model',
    message: `The model '${model}' is not served on ${endpoint.url} here: none of its upstreams offers that endpoint (Azure OpenAI has no moderations).`,
  });
}

function pick(body: Readonly<Record<string, unknown>>, fields: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const field of fields) if (body[field] !== undefined) picked[field] = body[field];
  return picked;
}

/** One admitted request on its way to the upstream. */
interface RelayCall {
  readonly endpoint: ProxyEndpoint;
  readonly relayed: RelayRequest;
  readonly targets: readonly Target[];
  readonly estimate: TokenEstimate;
  readonly exchange: Exchange;
  readonly ctx: RequestContext;
  /** LOG_CONTENT, which comes with the routes from the HTTP layer. */
  readonly logContent: boolean;
}

/** What a stream used: the upstream's usage, else the prompt estimate and the text relayed so far. */
function streamTokens(tracker: StreamTracker, estimate: TokenEstimate): TokenCount {
  if (tracker.usage !== undefined) return { prompt: tracker.usage.promptTokens, completion: tracker.usage.completionTokens, estimated: false };
  return { prompt: estimate.promptTokens, completion: tokensOfText(tracker.relayedCharacters), estimated: true };
}

export class ProxyBackend implements Backend {
  readonly variant = 'proxy' as const;
  private readonly catalog: ModelCatalog;
  private readonly admission: Admission;
  private readonly metrics: ProxyMetrics;
  private readonly agent: Agent;
  private readonly router: UpstreamRouter;
  private readonly caller: UpstreamCaller;
  private readonly secrets: readonly string[];
  private readonly inFlight = new Set<Exchange>();
  private closed = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: ProxyBackendOptions) {
    const { config } = options;
    this.catalog = new ModelCatalog(config.models);
    this.admission = new Admission(config, options.clock, options.rateWindowMs);
    this.metrics = new ProxyMetrics(options.registry);
    this.agent = new Agent({ connect: { timeout: config.timeouts.connectMs }, keepAliveTimeout: 30_000 });
    const clients = new Map(config.upstreams.map((upstream) => [upstream.name, new UpstreamClient(upstream, this.agent)]));
    this.router = new UpstreamRouter(config, clients, { metrics: this.metrics, log: options.logger, clock: options.clock, random: options.random });
    this.secrets = config.upstreams.flatMap((upstream) => (upstream.apiKey === null ? [] : [upstream.apiKey]));
    this.caller = new UpstreamCaller(config, { router: this.router, metrics: this.metrics, secrets: this.secrets, random: options.random });
  }

  isReady(): boolean {
    return !this.closed;
  }

  routes(options: RouteOptions): readonly ApiRoute[] {
    return proxyRoutes({ relay: (endpoint, request, ctx) => this.relay(endpoint, request, ctx, options.logContent), listModels: () => this.catalog.list() });
  }

  /** Refuses new requests, waits for in-flight ones (the caller bounds the wait by aborting their signals), then closes the pool. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.onIdle = resolve));
    await this.agent.close();
  }

  private async relay(endpoint: ProxyEndpoint, request: ApiRequest, ctx: RequestContext, logContent: boolean): Promise<ApiAnswer> {
    const client = ctx.client?.name ?? ANONYMOUS;
    let model = 'unknown';
    let requested: string | undefined;
    let exchange: Exchange;
    let relayed: RelayRequest;
    let targets: readonly Target[];
    let estimate: TokenEstimate;
    try {
      if (this.closed) throw shuttingDown();
      relayed = readRelayRequest(endpoint, request);
      requested = relayed.model;
      model = this.catalog.resolve(requested);
      targets = this.router.targets(model, endpoint);
      if (targets.length === 0) throw notServedOn(model, endpoint);
      if (logContent) ctx.log.info(pick(relayed.body, INPUT_FIELDS[endpoint.protocol]), 'request content');
      estimate = estimateTokens(endpoint.protocol, relayed.body, this.options.config.assumedMaxTokens);
      const admitted = await this.admission.admit(client, estimate.totalTokens);
      exchange = new Exchange({
        metrics: this.metrics,
        admission: this.admission,
        ctx,
        client,
        model,
        requestedModel: relayed.model,
        admitted,
        deadline: new RequestDeadline(ctx.signal, this.options.config.timeouts.totalMs),
        onFinished: () => {
          this.inFlight.delete(exchange);
          if (this.inFlight.size === 0) this.onIdle?.();
        },
      });
      this.inFlight.add(exchange);
    } catch (error) {
      ctx.annotate({ model, requested_model: requested === model ? undefined : requested });
      this.metrics.requests.inc({ client, model, status: String(error instanceof ApiError ? error.status : 500) });
      throw error;
    }
    const call: RelayCall = { endpoint, relayed, targets, estimate, exchange, ctx, logContent };
    try {
      return relayed.stream ? await this.stream(call) : await this.whole(call);
    } catch (error) {
      const final = error instanceof ApiError || error instanceof RelayedUpstreamError ? error : undefined;
      exchange.finish(final?.status ?? 500, undefined);
      if (error instanceof RelayedUpstreamError) return { kind: 'raw', status: error.status, body: error.body, headers: error.headers };
      throw error;
    }
  }

  private async whole({ endpoint, relayed, targets, exchange, ctx, logContent }: RelayCall): Promise<ApiAnswer> {
    const { value } = await this.caller.call(targets, exchange.deadline, { stream: false, log: ctx.log, observer: exchange }, async (target, signal) => {
      const response = await target.client.send(endpoint, target.upstreamModel, relayed.textFor(target.upstreamModel), false, signal);
      const requestId = upstreamRequestId(response.headers);
      exchange.sawUpstreamRequestId(requestId);
      const text = await response.body.text();
      return { status: response.statusCode, contentType: response.headers['content-type'], requestId, text, answer: parseAnswer(text) };
    });
    const usage = usageOf(endpoint.protocol, value.answer.usage);
    exchange.finish(200, usage === undefined ? undefined : { prompt: usage.promptTokens, completion: usage.completionTokens, estimated: false });
    if (logContent) ctx.log.info({ completion: answerTexts(endpoint.protocol, value.answer) }, 'response content');
    const headers: Record<string, string> = { ...exchange.rateLimitHeaders, 'content-type': typeof value.contentType === 'string' ? value.contentType : 'application/json' };
    if (value.requestId !== undefined) headers['x-upstream-request-id'] = value.requestId;
    return { kind: 'raw', status: value.status, body: value.text, headers };
  }

  private async stream({ endpoint, relayed, targets, estimate, exchange, ctx, logContent }: RelayCall): Promise<ApiAnswer> {
    const trackerOptions = { wantsUsage: relayed.wantsUsage, secrets: this.secrets, collectText: logContent };
    const { value, attempt, target } = await this.caller.call(targets, exchange.deadline, { stream: true, log: ctx.log, observer: exchange }, async (candidate, signal) => {
      const response = await candidate.client.send(endpoint, candidate.upstreamModel, relayed.textFor(candidate.upstreamModel), true, signal);
      const requestId = upstreamRequestId(response.headers);
      exchange.sawUpstreamRequestId(requestId);
      const tracker = createStreamTracker(endpoint.protocol, trackerOptions);
      return { opened: await openStream(response.body, tracker), tracker, requestId };
    });
    const { tracker } = value;
    const deadline = exchange.deadline;
    // Whoever never reads the events still frees the key's slot, with the tokens relayed so far, once the client leaves or time runs out.
    const onAbort = () => {
      attempt.abort('closed');
      exchange.finish(classifyFailure(undefined, deadline.cause, this.secrets).error.status, streamTokens(tracker, estimate));
    };
    if (deadline.signal.aborted) onAbort();
    else deadline.signal.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { ...exchange.rateLimitHeaders };
    if (value.requestId !== undefined) headers['x-upstream-request-id'] = value.requestId;
    const frames = relayFrames({
      stream: value.opened,
      tracker,
      attempt,
      deadline,
      idleTimeoutMs: this.options.config.timeouts.streamIdleMs,
      onEnd: (end) => {
        if (end.upstreamFault) this.router.failed(target, { upstreamFault: true, retryAfterMs: undefined });
        deadline.signal.removeEventListener('abort', onAbort);
        exchange.finish(end.error?.status ?? 200, streamTokens(tracker, estimate));
        if (logContent) ctx.log.info({ completion: tracker.texts.join(''), outcome: end.error?.code ?? 'done' }, 'response content');
      },
    });
    return { kind: 'frames', frames, headers };
  }
}

/**
 * Builds the proxy from the environment. Refuses to start without client keys unless
 * PROXY_ALLOW_ANONYMOUS=true: an open proxy spends the operator's upstream key for anyone.
 */
export async function createProxyBackend(
  env: NodeJS.ProcessEnv,
  deps: { registry: Registry; logger: Logger; clock?: Clock; rateWindowMs?: number; random?: () => number },
): Promise<{ backend: ProxyBackend; authenticator: Authenticator }> {
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
  if (config.ignoredEnvironment.length > 0) {
    deps.logger.info({ ignored: config.ignoredEnvironment }, 'PROXY_CONFIG_FILE lists upstreams: the single-upstream variables are not used');
  }
  const authenticator = createKeyAuthenticator(config.keys.map(({ name, sha256 }) => ({ name, sha256 })));
  const backend = new ProxyBackend({ config, ...deps });
  deps.logger.info(
    {
      upstreams: config.upstreams.map((upstream) => ({ name: upstream.name, kind: upstream.kind, origin: new URL(upstream.baseURL).origin })),
      clientKeys: config.keys.length,
      models: config.models.allow.length,
    },
    'proxy backend configured',
  );
  return { backend, authenticator };
}
