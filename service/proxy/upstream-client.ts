// The proxy's HTTP client for the OpenAI-compatible upstream, on undici's request API: one POST per
// attempt with the upstream's headers, the JSON body back, or the stream's `data:` payloads as they
// arrive. The official openai client (and the WHATWG fetch under it) cost more CPU per proxied
// request than everything else in the proxy together, for request building and checks we do not need.
import type { Dispatcher } from 'undici';
import type { UpstreamConfig } from './config';
import { readServerSentEvents } from './sse-reader';
import { UpstreamStatusError, UpstreamStreamError } from './upstream-errors';

export type UpstreamPath = '/completions' | '/chat/completions';

const STREAM_END = '[DONE]';
/** Error bodies are read for their message; a huge one (an HTML error page) is cut off here. */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

export class UpstreamClient {
  private readonly origin: string;
  private readonly basePath: string;
  private readonly headers: Readonly<Record<string, string>>;

  constructor(
    config: Pick<UpstreamConfig, 'baseURL' | 'apiKey' | 'organization' | 'project'>,
    private readonly dispatcher: Dispatcher,
  ) {
    const base = new URL(config.baseURL);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.headers = {
      'content-type': 'application/json',
      // Bodies are relayed as they come; a compressed stream would have to be inflated first.
      'accept-encoding': 'identity',
      ...(config.apiKey !== null ? { authorization: `Bearer ${config.apiKey}` } : {}),
      ...(config.organization ? { 'openai-organization': config.organization } : {}),
      ...(config.project ? { 'openai-project': config.project } : {}),
    };
  }

  /** POSTs `body` and returns the parsed JSON answer; throws UpstreamStatusError for a non-2xx status. */
  async post(path: UpstreamPath, body: Readonly<Record<string, unknown>>, signal: AbortSignal): Promise<unknown> {
    const response = await this.send(path, body, 'application/json', signal);
    return JSON.parse(await response.body.text());
  }

  /**
   * POSTs `body` (a `stream: true` request) and resolves once the upstream's headers are in, with
   * each event's JSON payload in order up to `[DONE]`. An error event in the stream throws.
   */
  async postStream(path: UpstreamPath, body: Readonly<Record<string, unknown>>, signal: AbortSignal): Promise<AsyncIterable<unknown>> {
    const response = await this.send(path, body, 'text/event-stream', signal);
    return streamPayloads(response.body);
  }

  private async send(path: UpstreamPath, body: Readonly<Record<string, unknown>>, accept: string, signal: AbortSignal) {
    const response = await this.dispatcher.request({
      origin: this.origin,
      path: `${this.basePath}${path}`,
      method: 'POST',
      headers: { ...this.headers, accept },
      body: JSON.stringify(body),
      signal,
    });
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const text = await response.body.text().catch(() => '');
    throw new UpstreamStatusError(response.statusCode, response.headers, errorObject(text.slice(0, MAX_ERROR_BODY_CHARS)));
  }
}

async function* streamPayloads(body: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  let ended = false;
  for await (const { event, data } of readServerSentEvents(body)) {
    // Read on to the end of the response after [DONE]: leaving the body half-read left the upstream
    // holding the connection as busy (its graceful shutdown then waited for our keep-alive timeout).
    if (ended) continue;
    if (data === STREAM_END) {
      ended = true;
      continue;
    }
    const payload: unknown = JSON.parse(data);
    if (event === 'error' || (typeof payload === 'object' && payload !== null && 'error' in payload)) {
      throw new UpstreamStreamError('the upstream sent an error event instead of a chunk');
    }
    yield payload;
  }
}

/** OpenAI's envelope is `{"error": {...}}`; anything else (HTML, plain text, bad JSON) has no details to pass on. */
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
