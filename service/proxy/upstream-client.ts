// One upstream over undici's request API: the URL, query and headers its kind expects (OpenAI,
// Azure OpenAI's deployments or v1 API, any OpenAI-compatible server), one POST per attempt with the
// body text as given, and the response as it came (a non-2xx status throws, with its body text).
// The official openai client (and the WHATWG fetch under it) cost more CPU per proxied request than
// everything else in the proxy together, for request building and checks a relay does not need.
import type { Dispatcher } from 'undici';
import type { UpstreamConfig, UpstreamKind } from './config';
import type { ProxyEndpoint } from './endpoints';
import { UpstreamStatusError } from './upstream-errors';

/** Error bodies are read for their message and relayed; a huge one (an HTML error page) is cut off here. */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData['body'];
}

export class UpstreamClient {
  readonly name: string;
  readonly kind: UpstreamKind;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly azure: UpstreamConfig['azure'];
  private readonly jsonHeaders: Readonly<Record<string, string>>;
  private readonly streamHeaders: Readonly<Record<string, string>>;

  constructor(
    config: Pick<UpstreamConfig, 'name' | 'kind' | 'baseURL' | 'apiKey' | 'organization' | 'project' | 'azure'>,
    private readonly dispatcher: Dispatcher,
  ) {
    const base = new URL(config.baseURL);
    this.name = config.name;
    this.kind = config.kind;
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.azure = config.azure;
    const credentials: Record<string, string> = {};
    if (config.apiKey !== null) {
      // Azure's deployments API takes its key in `api-key`; everything else (Azure's v1 API too) a Bearer token.
      if (config.azure?.api === 'deployments') credentials['api-key'] = config.apiKey;
      else credentials.authorization = `Bearer ${config.apiKey}`;
    }
    if (config.organization) credentials['openai-organization'] = config.organization;
    if (config.project) credentials['openai-project'] = config.project;
    // Bodies are relayed as they come; a compressed one would have to be inflated first.
    const common = { 'content-type': 'application/json', 'accept-encoding': 'identity', ...credentials };
    this.jsonHeaders = { ...common, accept: 'application/json' };
    this.streamHeaders = { ...common, accept: 'text/event-stream' };
  }

  /** Whether this upstream has the endpoint at all (Azure OpenAI has no moderations). */
  serves(endpoint: ProxyEndpoint): boolean {
    return this.azure === undefined || endpoint.azure !== undefined;
  }

  /** The path and query of `endpoint` for the model known here as `upstreamModel`. */
  pathFor(endpoint: ProxyEndpoint, upstreamModel: string): string {
    if (this.azure === undefined) return `${this.basePath}${endpoint.path}`;
    if (this.azure.api === 'v1') return `${this.basePath}/openai/v1${endpoint.path}`;
    const query = `?api-version=${encodeURIComponent(this.azure.apiVersion ?? '')}`;
    if (endpoint.azure === 'deployment') return `${this.basePath}/openai/deployments/${encodeURIComponent(upstreamModel)}${endpoint.path}${query}`;
    return `${this.basePath}/openai${endpoint.path}${query}`;
  }

  /** POSTs `body` and resolves with the response once its headers are in; throws UpstreamStatusError for a non-2xx status. */
  async send(endpoint: ProxyEndpoint, upstreamModel: string, body: string, stream: boolean, signal: AbortSignal): Promise<UpstreamResponse> {
    const response = await this.dispatcher.request({
      origin: this.origin,
      path: this.pathFor(endpoint, upstreamModel),
      method: 'POST',
      headers: stream ? this.streamHeaders : this.jsonHeaders,
      body,
      signal,
    });
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await readLimited(response.body, MAX_ERROR_BODY_CHARS).catch(() => '');
    throw new UpstreamStatusError(response.statusCode, response.headers, text, errorObject(text));
  }
}

/** The body's text up to `limit` characters; the rest is not read. */
async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    if (text.length > limit) return text.slice(0, limit);
  }
  return text + decoder.decode();
}

/** OpenAI's envelope is `{"error": {...}}`; anything else (HTML, plain text, a cut-off body) has no details to pass on. */
function errorObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const inner = (parsed as { error?: unknown }).error;
    return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
