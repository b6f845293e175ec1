// The one interface between the HTTP surface (service/http) and what answers requests: the local
// GPT-2 engine (service/inference) or OpenAI-compatible upstreams (service/proxy). The HTTP layer
// authenticates, gates, logs, counts and frames; each backend brings its own routes and reads its own
// bodies, so the surface knows nothing about either backend's request semantics.
import type { Logger } from 'pino';

/** Who is calling, once the HTTP layer has checked the bearer key. */
export interface ClientIdentity {
  /** The key's configured name (never the key itself); used in logs, limits and metric labels. */
  readonly name: string;
}

export interface RequestContext {
  readonly requestId: string;
  /** Aborted when the client disconnects or the request times out. */
  readonly signal: AbortSignal;
  /** Undefined when the service runs without client keys. */
  readonly client: ClientIdentity | undefined;
  readonly log: Logger;
  /** Headers to add to the response; calls after the first byte have no effect. */
  setHeader(name: string, value: string): void;
  /** Adds fields to the request's one access-log line (model, upstream, tokens, ...); a later value wins. */
  annotate(fields: Readonly<Record<string, unknown>>): void;
}

export interface ApiRequest {
  /** The JSON body as parsed; undefined for a request without one. */
  readonly body: unknown;
  /** The body's text exactly as received (checked to be UTF-8), for a backend that relays it. */
  readonly bodyText: string | undefined;
  /** Path parameters by name; a wildcard's is `*`. */
  readonly params: Readonly<Record<string, string>>;
}

type Headers = Readonly<Record<string, string>>;

/** What a route answers; the HTTP layer writes it. Event streams wait for their first item before any header goes out. */
export type ApiAnswer =
  /** A value serialized as JSON. */
  | { readonly kind: 'json'; readonly body: unknown; readonly status?: number; readonly headers?: Headers }
  /** Bytes sent as they are; `headers` carries the content-type. */
  | { readonly kind: 'raw'; readonly status: number; readonly body: string; readonly headers: Headers }
  /** Values framed as `data: {json}` events, then `data: [DONE]`; a throw becomes a last error event. */
  | { readonly kind: 'chunks'; readonly chunks: AsyncIterable<unknown>; readonly headers?: Headers }
  /** Server-sent events already framed by the backend (relayed bytes), which writes its own last event. */
  | { readonly kind: 'frames'; readonly frames: AsyncIterable<string>; readonly headers?: Headers };

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** A fastify route pattern, e.g. `/v1/models/*`. */
  readonly url: string;
  /** Throws ApiError (404 model_not_found, 400, 429, ...) to answer with OpenAI's error envelope. */
  handle(request: ApiRequest, ctx: RequestContext): Promise<ApiAnswer>;
}

export interface RouteOptions {
  /** Log prompts and completions (LOG_CONTENT); off by default because they may hold personal data. */
  readonly logContent: boolean;
}

export interface Backend {
  readonly variant: 'inference' | 'proxy';
  /** Readiness: the model is loaded and warmed (inference) or the configuration is valid (proxy). */
  isReady(): boolean;
  /** The API routes this variant serves; the HTTP layer puts them behind auth, readiness and draining. */
  routes(options: RouteOptions): readonly ApiRoute[];
  /** Finishes in-flight work (bounded by the caller's drain timeout) and releases resources. */
  close(): Promise<void>;
}
