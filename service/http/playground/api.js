// @ts-check
// The playground's side of the OpenAI-compatible API on this origin: request bodies from the
// settings, one generation run (streamed or not) reported as deltas, usage and timings, and
// OpenAI's error envelope turned into a message a person can act on.
import { sseData } from './sse.js';

/**
 * @typedef {object} Settings
 * @property {string} model
 * @property {boolean} stream
 * @property {number} maxTokens
 * @property {number} temperature
 * @property {number} topP
 * @property {number} n
 * @property {string[]} stop
 * @property {number | undefined} seed
 * @property {number | undefined} topK       inference variant only (vLLM's extension)
 * @property {number | undefined} numBeams   inference variant only; 1 or unset: sampling
 */

/** @typedef {{ role: 'system' | 'user' | 'assistant', content: string }} Message */
/** @typedef {{ prompt_tokens: number, completion_tokens: number, total_tokens: number }} Usage */

/**
 * @typedef {object} RunHandlers
 * @property {(choice: number, text: string) => void} onText
 * @property {(choice: number, reason: string) => void} onFinish
 */

/**
 * @typedef {object} RunResult
 * @property {Usage | undefined} usage
 * @property {number | undefined} firstTokenMs  from sending to the first text (streams only)
 * @property {number} totalMs
 * @property {string | undefined} requestId     the server's x-request-id
 */

/** What went wrong, as the page shows it: a sentence, then the status, code, type and param. */
export class PlaygroundError extends Error {
  /**
   * @param {string} message
   * @param {string} detail
   */
  constructor(message, detail) {
    super(message);
    this.name = 'PlaygroundError';
    this.detail = detail;
  }
}

/**
 * Reads OpenAI's envelope `{"error":{"message","type","param","code"}}` (from a body or an SSE
 * event); anything else still becomes a message that names the status.
 * @param {number | undefined} status   undefined: the error arrived inside a stream
 * @param {unknown} body                parsed JSON, or the raw text when it was not JSON
 * @param {string | null} requestId
 * @returns {PlaygroundError}
 */
function errorFrom(status, body, requestId) {
  const envelope = /** @type {{ error?: { message?: unknown, type?: unknown, code?: unknown, param?: unknown } }} */ (
    typeof body === 'object' && body !== null ? body : {}
  ).error;
  const parts = [status === undefined ? 'during the stream' : `HTTP ${status}`];
  if (envelope !== undefined && typeof envelope.message === 'string') {
    if (typeof envelope.code === 'string') parts.push(`code ${envelope.code}`);
    if (typeof envelope.type === 'string') parts.push(`type ${envelope.type}`);
    if (typeof envelope.param === 'string') parts.push(`param ${envelope.param}`);
    if (requestId) parts.push(`request id ${requestId}`);
    return new PlaygroundError(envelope.message, parts.join(' · '));
  }
  if (requestId) parts.push(`request id ${requestId}`);
  const text = typeof body === 'string' ? body.trim().slice(0, 300) : '';
  return new PlaygroundError(text === '' ? 'The server answered without an OpenAI error body.' : `The server answered: ${text}`, parts.join(' · '));
}

/**
 * The request body for /v1/completions (`input` is the prompt) or /v1/chat/completions (messages).
 * @param {Settings} settings
 * @param {{ prompt: string } | { messages: Message[] }} input
 * @returns {Record<string, unknown>}
 */
export function requestBody(settings, input) {
  const beams = settings.numBeams !== undefined && settings.numBeams > 1;
  /** @type {Record<string, unknown>} */
  const body = { model: settings.model, ...input, max_tokens: settings.maxTokens };
  // Beam search is deterministic: the engine refuses sampling settings alongside it.
  if (beams) body.num_beams = settings.numBeams;
  else {
    body.temperature = settings.temperature;
    body.top_p = settings.topP;
    if (settings.seed !== undefined) body.seed = settings.seed;
    if (settings.topK !== undefined) body.top_k = settings.topK;
  }
  body.n = settings.n;
  body.stream = settings.stream;
  if (settings.stream) body.stream_options = { include_usage: true };
  if (settings.stop.length > 0) body.stop = settings.stop;
  return body;
}

/** @param {string} apiKey @returns {Record<string, string>} */
function authHeaders(apiKey) {
  return apiKey === '' ? {} : { authorization: `Bearer ${apiKey}` };
}

/** @param {Response} response @returns {Promise<PlaygroundError>} */
async function responseError(response) {
  const text = await response.text();
  /** @type {unknown} */
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML error page, say): errorFrom shows the text.
  }
  return errorFrom(response.status, body, response.headers.get('x-request-id'));
}

/**
 * @param {string} url
 * @param {RequestInit} init
 * @returns {Promise<Response>}
 */
async function request(url, init) {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    throw new PlaygroundError(`Could not reach the server: ${error instanceof Error ? error.message : String(error)}`, 'network error');
  }
}

/**
 * The models the key may use, from GET /v1/models.
 * @param {string} apiKey
 * @returns {Promise<string[]>}
 */
export async function listModels(apiKey) {
  const response = await request('/v1/models', { headers: authHeaders(apiKey) });
  if (!response.ok) throw await responseError(response);
  const list = /** @type {{ data?: Array<{ id?: unknown }> }} */ (await response.json());
  return (list.data ?? []).map((model) => model.id).filter(/** @returns {id is string} */ (id) => typeof id === 'string');
}

/**
 * The text a completion or chat choice carries, in a chunk (delta) or a whole body (message).
 * @param {{ text?: unknown, delta?: { content?: unknown }, message?: { content?: unknown } }} choice
 * @returns {string}
 */
function choiceText(choice) {
  const text = choice.text ?? choice.delta?.content ?? choice.message?.content;
  return typeof text === 'string' ? text : '';
}

/**
 * @typedef {{ index?: number, finish_reason?: string | null, text?: unknown, delta?: { content?: unknown }, message?: { content?: unknown } }} Choice
 * @typedef {{ choices?: Choice[], usage?: Usage | null, error?: unknown }} Payload
 */

/**
 * One generation: POSTs `body` to `path` and reports each choice's text as it arrives.
 * @param {{ path: '/v1/completions' | '/v1/chat/completions', body: Record<string, unknown>, apiKey: string, signal: AbortSignal }} call
 * @param {RunHandlers} handlers
 * @returns {Promise<RunResult>}
 */
export async function runGeneration(call, handlers) {
  const started = performance.now();
  const response = await request(call.path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(call.apiKey) },
    body: JSON.stringify(call.body),
    signal: call.signal,
  });
  const requestId = response.headers.get('x-request-id');
  if (!response.ok) throw await responseError(response);
  /** @type {Usage | undefined} */
  let usage;
  /** @type {number | undefined} */
  let firstTokenMs;
  /** @param {Payload} payload */
  const take = (payload) => {
    if (payload.usage) usage = payload.usage;
    for (const choice of payload.choices ?? []) {
      const index = choice.index ?? 0;
      const text = choiceText(choice);
      if (text !== '') {
        firstTokenMs ??= performance.now() - started;
        handlers.onText(index, text);
      }
      if (choice.finish_reason) handlers.onFinish(index, choice.finish_reason);
    }
  };

  if (call.body.stream !== true || response.body === null) {
    take(/** @type {Payload} */ (await response.json()));
    return { usage, firstTokenMs: undefined, totalMs: performance.now() - started, requestId: requestId ?? undefined };
  }
  let done = false;
  for await (const data of sseData(response.body)) {
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const payload = /** @type {Payload} */ (JSON.parse(data));
    // An error after the stream started arrives as a last event, without [DONE].
    if (payload.error !== undefined) throw errorFrom(undefined, payload, requestId);
    take(payload);
  }
  if (!done) throw new PlaygroundError('The stream ended before data: [DONE]: the connection was cut.', `request id ${requestId ?? 'unknown'}`);
  return { usage, firstTokenMs, totalMs: performance.now() - started, requestId: requestId ?? undefined };
}
