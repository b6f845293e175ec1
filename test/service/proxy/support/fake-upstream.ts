// A recording, fault-injecting OpenAI-compatible upstream on 127.0.0.1: each request takes the next
// planned behaviour (an answer, canned bytes, an error status, a hang, a reset, malformed JSON) and
// is recorded with its path, query, headers and body text for assertions. Paths are matched by
// their ending, so OpenAI's (/v1/chat/completions) and Azure's (/openai/deployments/d/chat/completions)
// shapes get the same answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour =
  | { kind: 'ok'; chunkDelayMs?: number; /** Streams hold after the first chunk until this settles. */ gate?: Promise<void> }
  /** Answers after `delayMs` (a slow generation). */
  | { kind: 'slow'; delayMs: number }
  /** These exact bytes with this status. */
  | { kind: 'reply'; status?: number; headers?: Record<string, string>; body: string }
  /** These exact SSE frames; then the response ends, or with `hold` stays open. */
  | { kind: 'sse'; frames: string[]; hold?: boolean; headers?: Record<string, string> }
  | { kind: 'status'; status: number; message?: string; type?: string; code?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset-before-headers' }
  | { kind: 'reset-mid-stream' }
  | { kind: 'malformed-json' }
  /** A stream that sends an `error` event after `chunksBefore` chunks (0: instead of the first). */
  | { kind: 'error-event'; chunksBefore: number };

export interface RecordedRequest {
  /** The path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** The body exactly as received. */
  readonly text: string;
  readonly body: Record<string, unknown>;
  readonly receivedAt: number;
}

/** OpenAI's 429s carry types like `requests` or `tokens`, not one of the envelope types. */
function defaultType(status: number): string {
  if (status === 429) return 'requests';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

export const COMPLETION_TEXT = ['Hello', ',', ' world', '!'];
export const UPSTREAM_REQUEST_ID = 'req_fake_upstream_0001';

function usage(body: Record<string, unknown>) {
  const prompt_tokens = 5;
  const completion_tokens = typeof body.max_tokens === 'number' ? Math.min(body.max_tokens, COMPLETION_TEXT.length) : COMPLETION_TEXT.length;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

function answerBody(path: string, body: Record<string, unknown>): unknown {
  const model = String(body.model);
  const base = { id: 'cmpl-fake', created: 1_700_000_000, model };
  if (path.endsWith('/chat/completions')) {
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: COMPLETION_TEXT.join('') }, finish_reason: 'stop', logprobs: null }],
      usage: usage(body),
    };
  }
  if (path.endsWith('/responses')) return responseObject(model, 'completed');
  if (path.endsWith('/embeddings')) {
    return { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.25, -0.5, 0.125] }], model, usage: { prompt_tokens: 3, total_tokens: 3 } };
  }
  if (path.endsWith('/moderations')) {
    return { id: 'modr-fake', model, results: [{ flagged: false, categories: { violence: false }, category_scores: { violence: 0.001 } }] };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: [{ index: 0, text: COMPLETION_TEXT.join(''), finish_reason: 'stop', logprobs: null }],
    usage: usage(body),
  };
}

function responseObject(model: string, status: 'in_progress' | 'completed') {
  const done = status === 'completed';
  return {
    id: 'resp_fake',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    model,
    output: done
      ? [{ type: 'message', id: 'msg_fake', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: COMPLETION_TEXT.join(''), annotations: [] }] }]
      : [],
    usage: done ? { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 9 } : null,
  };
}

/** A Responses API stream as OpenAI writes it: typed events, each with its sequence number, and no [DONE]. */
export function responsesStreamFrames(model: string): string[] {
  const events: Record<string, unknown>[] = [
    { type: 'response.created', response: responseObject(model, 'in_progress') },
    { type: 'response.in_progress', response: responseObject(model, 'in_progress') },
    { type: 'response.output_item.added', output_index: 0, item: { type: 'message', id: 'msg_fake', status: 'in_progress', role: 'assistant', content: [] } },
    { type: 'response.content_part.added', item_id: 'msg_fake', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
    ...COMPLETION_TEXT.map((delta) => ({ type: 'response.output_text.delta', item_id: 'msg_fake', output_index: 0, content_index: 0, delta, logprobs: [] })),
    { type: 'response.output_text.done', item_id: 'msg_fake', output_index: 0, content_index: 0, text: COMPLETION_TEXT.join(''), logprobs: [] },
    { type: 'response.completed', response: responseObject(model, 'completed') },
  ];
  return events.map((event, sequence) => `event: ${String(event.type)}\ndata: ${JSON.stringify({ ...event, sequence_number: sequence })}\n\n`);
}

function chunkFor(path: string, body: Record<string, unknown>, piece: string, last: boolean) {
  const base = { id: 'cmpl-fake', created: 1_700_000_000, model: String(body.model) };
  const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const extra = withUsage ? { usage: null } : {};
  if (path.endsWith('/chat/completions')) {
    return {
      ...base,
      ...extra,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: piece }, finish_reason: last ? 'stop' : null, logprobs: null }],
    };
  }
  return { ...base, ...extra, object: 'text_completion', choices: [{ index: 0, text: piece, finish_reason: last ? 'stop' : null, logprobs: null }] };
}

/** Waits `ms`, or less if the proxy closes the response first (no timer outlives the test). */
function pause(ms: number, response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      response.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    response.on('close', done);
  });
}

export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  /** Responses whose connection the proxy closed before they were complete. */
  abandoned = 0;
  private readonly plan: Behaviour[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly arrivals: ((request: RecordedRequest) => void)[] = [];
  private readonly abandonWaiters = new Set<() => void>();
  private server: Server | undefined;
  /** What to do once the plan is used up. */
  fallback: Behaviour = { kind: 'ok' };

  /** Queues behaviours for the next requests, in order. */
  enqueue(...behaviours: Behaviour[]): void {
    this.plan.push(...behaviours);
  }

  reset(): void {
    this.plan.length = 0;
    this.requests.length = 0;
    this.abandoned = 0;
    this.fallback = { kind: 'ok' };
  }

  /** Resolves once `count` responses in all were abandoned by the proxy. */
  abandonedAtLeast(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.abandoned < count) return;
        this.abandonWaiters.delete(check);
        resolve();
      };
      this.abandonWaiters.add(check);
      check();
    });
  }

  /** Resolves when the next request arrives. */
  nextRequest(): Promise<RecordedRequest> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `${this.origin()}/v1`;
  }

  origin(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text.length > 0 ? JSON.parse(text) : {}) as Record<string, unknown>;
    const url = new URL(request.url ?? '/', 'http://fake');
    const path = url.pathname;
    const recorded = { path, query: url.searchParams, headers: request.headers, text, body, receivedAt: Date.now() };
    this.requests.push(recorded);
    for (const arrival of this.arrivals.splice(0)) arrival(recorded);
    response.on('close', () => {
      if (response.writableFinished) return;
      this.abandoned += 1;
      for (const waiter of this.abandonWaiters) waiter();
    });
    const behaviour = this.plan.shift() ?? this.fallback;
    const json = { 'content-type': 'application/json', 'x-request-id': UPSTREAM_REQUEST_ID };
    const eventStream = { 'content-type': 'text/event-stream', 'x-request-id': UPSTREAM_REQUEST_ID };
    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'reset-before-headers':
        request.socket.destroy();
        return;
      case 'reply':
        response.writeHead(behaviour.status ?? 200, { ...json, ...behaviour.headers });
        response.end(behaviour.body);
        return;
      case 'sse':
        response.writeHead(200, { ...eventStream, ...behaviour.headers });
        for (const frame of behaviour.frames) response.write(frame);
        if (behaviour.hold !== true) response.end();
        return;
      case 'status':
        response.writeHead(behaviour.status, { ...json, ...behaviour.headers });
        response.end(
          JSON.stringify({
            error: { message: behaviour.message ?? `fake upstream error ${behaviour.status}`, type: behaviour.type ?? defaultType(behaviour.status), param: null, code: behaviour.code ?? null },
          }),
        );
        return;
      case 'malformed-json':
        if (body.stream === true) {
          response.writeHead(200, eventStream);
          response.end('data: {"id": "cmpl-fake", "choices": [\n\n');
        } else {
          response.writeHead(200, json);
          response.end('{"id": "cmpl-fake", "choices": [');
        }
        return;
      case 'error-event':
        response.writeHead(200, eventStream);
        for (const piece of COMPLETION_TEXT.slice(0, behaviour.chunksBefore)) response.write(`data: ${JSON.stringify(chunkFor(path, body, piece, false))}\n\n`);
        response.end('event: error\ndata: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}\n\n');
        return;
      case 'reset-mid-stream':
        response.writeHead(200, eventStream);
        response.write(`data: ${JSON.stringify(chunkFor(path, body, COMPLETION_TEXT[0]!, false))}\n\n`);
        setTimeout(() => request.socket.destroy(), 20);
        return;
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
        if (response.destroyed) return;
        response.writeHead(200, json);
        response.end(JSON.stringify(answerBody(path, body)));
        return;
      case 'ok':
        if (body.stream !== true) {
          response.writeHead(200, json);
          response.end(JSON.stringify(answerBody(path, body)));
          return;
        }
        if (path.endsWith('/responses')) {
          response.writeHead(200, eventStream);
          response.end(responsesStreamFrames(String(body.model)).join(''));
          return;
        }
        await this.stream(path, body, response, behaviour.chunkDelayMs ?? 0, behaviour.gate);
    }
  }

  private async stream(
    path: string,
    body: Record<string, unknown>,
    response: ServerResponse,
    delayMs: number,
    gate: Promise<void> | undefined,
  ): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': UPSTREAM_REQUEST_ID });
    for (const [index, piece] of COMPLETION_TEXT.entries()) {
      if (response.destroyed) return;
      response.write(`data: ${JSON.stringify(chunkFor(path, body, piece, index === COMPLETION_TEXT.length - 1))}\n\n`);
      if (index === 0 && gate !== undefined) await gate;
      if (delayMs > 0) await pause(delayMs, response);
    }
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true) {
      const base = { id: 'cmpl-fake', created: 1_700_000_000, model: String(body.model), object: path.endsWith('/chat/completions') ? 'chat.completion.chunk' : 'text_completion' };
      response.write(`data: ${JSON.stringify({ ...base, choices: [], usage: usage(body) })}\n\n`);
    }
    response.end('data: [DONE]\n\n');
  }
}
