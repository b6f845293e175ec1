// A fault-injecting OpenAI-compatible upstream on 127.0.0.1: each request takes the next planned
// behaviour (ok, an error status, a hang, a reset, malformed JSON) and is recorded for assertions.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour =
  | { kind: 'ok'; chunkDelayMs?: number; /** Streams hold after the first chunk until this settles. */ gate?: Promise<void> }
  | { kind: 'status'; status: number; message?: string; type?: string; code?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset-before-headers' }
  | { kind: 'reset-mid-stream' }
  | { kind: 'malformed-json' }
  /** A stream that sends an `error` event after `chunksBefore` chunks (0: instead of the first). */
  | { kind: 'error-event'; chunksBefore: number };

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
  readonly receivedAt: number;
  /** Settles when the response closed: 'abandoned' when the proxy closed it before it was complete. */
  readonly closed: Promise<'finished' | 'abandoned'>;
}

/** OpenAI's 429s carry types like `requests` or `tokens`, not one of the envelope types. */
function defaultType(status: number): string {
  if (status === 429) return 'requests';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

const COMPLETION_TEXT = ['Hello', ',', ' world', '!'];

function usage(body: Record<string, unknown>) {
  const prompt_tokens = 5;
  const completion_tokens = typeof body.max_tokens === 'number' ? Math.min(body.max_tokens, COMPLETION_TEXT.length) : COMPLETION_TEXT.length;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

function completionBody(path: string, body: Record<string, unknown>) {
  const base = { id: 'cmpl-fake', created: 1_700_000_000, model: String(body.model) };
  if (path.endsWith('/chat/completions')) {
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: COMPLETION_TEXT.join('') }, finish_reason: 'stop', logprobs: null }],
      usage: usage(body),
    };
  }
  return {
    ...base,
    object: 'text_completion',
    choices: [{ index: 0, text: COMPLETION_TEXT.join(''), finish_reason: 'stop', logprobs: null }],
    usage: usage(body),
  };
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

export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  /** Responses whose connection the proxy closed before they were complete. */
  abandoned = 0;
  private readonly plan: Behaviour[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly arrivalWaiters = new Set<() => void>();
  private server: Server | undefined;
  /** What to do once the plan is used up. */
  fallback: Behaviour = { kind: 'ok' };

  /** Queues behaviours for the next requests, in order. */
  enqueue(...behaviours: Behaviour[]): void {
    this.plan.push(...behaviours);
  }

  /** Settles once `count` requests (bodies read) have arrived since the last reset. */
  arrived(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.requests.length < count) return;
        this.arrivalWaiters.delete(check);
        resolve();
      };
      this.arrivalWaiters.add(check);
      check();
    });
  }

  reset(): void {
    this.plan.length = 0;
    this.requests.length = 0;
    this.abandoned = 0;
    this.fallback = { kind: 'ok' };
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
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
    const path = request.url ?? '/';
    const closed = new Promise<'finished' | 'abandoned'>((resolve) =>
      response.on('close', () => {
        if (response.writableFinished) return resolve('finished');
        this.abandoned += 1;
        resolve('abandoned');
      }),
    );
    this.requests.push({ path, headers: request.headers, body, receivedAt: Date.now(), closed });
    for (const check of [...this.arrivalWaiters]) check();
    const behaviour = this.plan.shift() ?? this.fallback;
    switch (behaviour.kind) {
      case 'hang':
        return;
      case 'reset-before-headers':
        request.socket.destroy();
        return;
      case 'status':
        response.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers });
        response.end(
          JSON.stringify({
            error: { message: behaviour.message ?? `fake upstream error ${behaviour.status}`, type: behaviour.type ?? defaultType(behaviour.status), param: null, code: behaviour.code ?? null },
          }),
        );
        return;
      case 'malformed-json':
        if (body.stream === true) {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.end('data: {"id": "cmpl-fake", "choices": [\n\n');
        } else {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end('{"id": "cmpl-fake", "choices": [');
        }
        return;
      case 'error-event':
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of COMPLETION_TEXT.slice(0, behaviour.chunksBefore)) response.write(`data: ${JSON.stringify(chunkFor(path, body, piece, false))}\n\n`);
        response.end('event: error\ndata: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}\n\n');
        return;
      case 'reset-mid-stream':
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(`data: ${JSON.stringify(chunkFor(path, body, COMPLETION_TEXT[0]!, false))}\n\n`);
        setTimeout(() => request.socket.destroy(), 20);
        return;
      case 'ok':
        if (body.stream !== true) {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(completionBody(path, body)));
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
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const [index, piece] of COMPLETION_TEXT.entries()) {
      if (response.destroyed) return;
      response.write(`data: ${JSON.stringify(chunkFor(path, body, piece, index === COMPLETION_TEXT.length - 1))}\n\n`);
      if (index === 0 && gate !== undefined) await gate;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true) {
      const base = { id: 'cmpl-fake', created: 1_700_000_000, model: String(body.model), object: path.endsWith('/chat/completions') ? 'chat.completion.chunk' : 'text_completion' };
      response.write(`data: ${JSON.stringify({ ...base, choices: [], usage: usage(body) })}\n\n`);
    }
    response.end('data: [DONE]\n\n');
  }
}
