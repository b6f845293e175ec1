// Builds the fastify app of the OpenAI-compatible surface: JSON parsing, request ids, auth,
// readiness and draining gates, error envelopes, access logs, metrics, and the backend's routes.
import type { Server as HttpsServer } from 'node:https';
import Fastify, {
  LogController,
  type FastifyHttpsOptions,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ApiRequest, Backend } from '../backend';
import { sendAnswer } from './answer';
import { bearerToken, type Authenticator } from './auth';
import { invalidApiKey, invalidJson, toApiError, unavailable, unknownUrl } from './errors';
import { createHttpMetrics } from './metrics';
import { requestContext, requestIdFor } from './request-context';
import { registerOpsRoutes } from './routes/ops';
import { registerPlaygroundRoutes } from './routes/playground';
import { API_ROUTE, isApiRoute } from './routes/route-kinds';
import { applyServerTimeouts, DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS, serverTimeouts, type ServerTimeouts } from './server-timeouts';

export interface AppOptions {
  readonly backend: Backend;
  readonly authenticator: Authenticator;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Log prompts and completions. @default false */
  readonly logContent?: boolean;
  /** Largest accepted request body. @default 1 MiB */
  readonly bodyLimitBytes?: number;
  /** Serve HTTPS with this certificate and key (PEM). @default plain HTTP */
  readonly https?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Serve the playground page at GET / (PLAYGROUND). @default true */
  readonly playground?: boolean;
  /** Serve GET /metrics here; false when a separate listener serves it (METRICS_PORT). @default true */
  readonly serveMetrics?: boolean;
  /** Keep-alive, headers and request timeouts of the server. @default serverTimeouts(75) */
  readonly timeouts?: ServerTimeouts;
}

export interface BuiltApp {
  readonly app: FastifyInstance;
  /** /ready turns 503 and new API requests get a 503 envelope; in-flight requests continue. */
  startDraining(): void;
  /**
   * Starts draining, waits until no API request is in flight or `timeoutMs` passed, then aborts
   * what is left (their backends see ctx.signal abort). Resolves with how many were aborted.
   */
  drain(timeoutMs: number): Promise<{ aborted: number }>;
  /** API requests currently being answered. */
  inFlight(): number;
}

export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/** After aborting leftovers at the drain deadline, how long their responses get to close. */
const ABORT_GRACE_MS = 2000;
/** The status logged and counted for a request whose client left before the response ended (nginx's). */
const CLIENT_CLOSED_REQUEST = 499;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function buildApp(options: AppOptions): Promise<BuiltApp> {
  const { backend, authenticator, registry, logger } = options;
  const serverOptions: FastifyServerOptions = {
    loggerInstance: logger,
    // One access-log line per request is written by the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    genReqId: requestIdFor,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors raised before routing (e.g. a malformed percent-encoding in the URL) skip the error
    // handler; they get the same envelope here.
    frameworkErrors: (error, request, reply) => {
      const { apiError } = toApiError(error);
      void (reply as FastifyReply).code(apiError.status).header('x-request-id', request.id).headers(apiError.headers).send(apiError.toEnvelope());
    },
  };
  const app = (
    options.https === undefined ? Fastify(serverOptions) : Fastify({ ...serverOptions, https: options.https } as FastifyHttpsOptions<HttpsServer>)
  ) as unknown as FastifyInstance;
  applyServerTimeouts(app.server, options.timeouts ?? serverTimeouts(DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS));

  let draining = false;
  const active = new Set<AbortController>();
  const idleWaiters = new Set<() => void>();
  const metrics = createHttpMetrics(registry);

  app.decorateRequest('client', undefined);
  app.decorateRequest('abortController', undefined);
  app.decorateRequest('bodyText', undefined);
  app.decorateRequest('logFields', undefined);

  // JSON only: text/plain, forms and anything else get 415. Bytes are checked to be UTF-8 before
  // parsing so invalid sequences are refused instead of silently becoming U+FFFD.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(invalidJson('The request body is not valid UTF-8: send JSON encoded as UTF-8.'), undefined);
      return;
    }
    request.bodyText = text;
    parseJson(request, text, done);
  });

  // Callback-style hooks: this runs for every request, and an async hook costs a promise and a
  // microtask hop each (bench:proxy measures what the proxy adds per request).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const controller = isApiRoute(request.routeOptions.config) ? new AbortController() : undefined;
    // One listener for everything that happens when the response's socket closes.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) {
        controller?.abort(new Error('The client closed the connection before the response ended.'));
        // On the next tick: the request's abort listeners run first, so a backend that stops on the
        // abort has annotated the line (e.g. with the tokens relayed so far) before it is written.
        process.nextTick(() => record(request, reply, CLIENT_CLOSED_REQUEST));
      }
      if (controller !== undefined && active.delete(controller) && active.size === 0) for (const wake of idleWaiters) wake();
    });
    if (controller === undefined) return done();
    if (draining) {
      reply.header('connection', 'close');
      return done(unavailable('draining'));
    }
    if (authenticator.enabled) {
      const token = bearerToken(request.headers.authorization);
      const client = token === undefined ? undefined : authenticator.identify(token);
      if (client === undefined) return done(invalidApiKey(request.headers.authorization !== undefined));
      request.client = client;
    }
    if (!backend.isReady()) return done(unavailable('not_ready'));
    request.abortController = controller;
    active.add(controller);
    done();
  });

  // One access-log line and one metric sample per request: on 'finish' (onResponse), or when the
  // client went away first (nginx's 499), which fastify's onResponse never sees.
  const recorded = new WeakSet<FastifyRequest>();
  const record = (request: FastifyRequest, reply: FastifyReply, status: number): void => {
    if (recorded.has(request)) return;
    recorded.add(request);
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observe(request.method, route, status, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        route,
        status,
        duration_ms: Math.round(reply.elapsedTime * 10) / 10,
        client: request.client?.name,
        ...request.logFields,
      },
      status === CLIENT_CLOSED_REQUEST ? 'request aborted by the client' : 'request completed',
    );
  };
  app.addHook('onResponse', (request, reply, done) => {
    record(request, reply, reply.statusCode);
    done();
  });

  app.setErrorHandler(async (error, request, reply) => {
    const { apiError, internal } = toApiError(error);
    if (internal) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: apiError.code, message: apiError.message }, 'request rejected');
    if (reply.raw.headersSent) return;
    // Refused before its body was read (auth, limits, draining): close the connection rather
    // than wait for an upload nobody will read.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(apiError.status).headers(apiError.headers).send(apiError.toEnvelope());
  });

  app.setNotFoundHandler(async (request, reply) => {
    const error = unknownUrl(request);
    return reply.code(error.status).send(error.toEnvelope());
  });

  registerOpsRoutes(app, { backend, registry, isDraining: () => draining, serveMetrics: options.serveMetrics ?? true });
  for (const route of backend.routes({ logContent: options.logContent ?? false })) {
    app.route({
      method: route.method,
      url: route.url,
      config: API_ROUTE,
      handler: async (request, reply) => {
        const apiRequest: ApiRequest = { body: request.body, bodyText: request.bodyText, params: request.params as Record<string, string> };
        return sendAnswer(request, reply, await route.handle(apiRequest, requestContext(request, reply)));
      },
    });
  }
  if (options.playground ?? true) registerPlaygroundRoutes(app, { variant: backend.variant, authRequired: authenticator.enabled });

  const startDraining = (): void => {
    draining = true;
  };

  const waitForIdle = (timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (active.size === 0) return resolve(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      const wake = (): void => finish(true);
      function finish(idle: boolean): void {
        clearTimeout(timer);
        idleWaiters.delete(wake);
        resolve(idle);
      }
      idleWaiters.add(wake);
    });

  return {
    app,
    startDraining,
    inFlight: () => active.size,
    async drain(timeoutMs) {
      startDraining();
      if (await waitForIdle(timeoutMs)) return { aborted: 0 };
      const aborted = active.size;
      for (const controller of active) controller.abort(new Error('The server is shutting down (drain timeout reached).'));
      await waitForIdle(ABORT_GRACE_MS);
      return { aborted };
    },
  };
}
