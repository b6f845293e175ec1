// The proxy's upstream client against a local server: what it sends, the JSON and stream payloads it
// returns, and how a non-2xx status, an error event and an abort come out.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { UpstreamClient } from '../../../service/proxy/upstream-client';
import { UpstreamStatusError, UpstreamStreamError } from '../../../service/proxy/upstream-errors';

let server: Server;
let base: string;
const agent = new Agent();
const seen: { url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
const routes = new Map<string, (response: ServerResponse) => void>();

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      seen.push({ url: request.url, headers: request.headers, body });
      const route = routes.get(request.url ?? '');
      if (route) route(response);
      else response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await agent.close();
});
beforeEach(() => {
  seen.length = 0;
  routes.clear();
});

const client = (apiKey: string | null = 'sk-upstream-secret') =>
  new UpstreamClient({ baseURL: `${base}/v1/`, apiKey, organization: 'org_1', project: 'proj_1' }, agent);
const signal = () => new AbortController().signal;

describe('UpstreamClient', () => {
  it('posts JSON under the base path with the upstream key, organization and project, and parses the answer', async () => {
    routes.set('/v1/completions', (response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"cmpl-1"}'));
    await expect(client().post('/completions', { model: 'm', prompt: 'hi' }, signal())).resolves.toEqual({ id: 'cmpl-1' });
    expect(seen[0]!.body).toBe('{"model":"m","prompt":"hi"}');
    expect(seen[0]!.headers).toMatchObject({
      authorization: 'Bearer sk-upstream-secret',
      'openai-organization': 'org_1',
      'openai-project': 'proj_1',
      'content-type': 'application/json',
      'accept-encoding': 'identity',
      accept: 'application/json',
    });
  });

  it('sends no authorization header for a keyless upstream', async () => {
    routes.set('/v1/completions', (response) => response.writeHead(200).end('{}'));
    await client(null).post('/completions', {}, signal());
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('throws UpstreamStatusError with the status, headers and the error object of an OpenAI envelope', async () => {
    routes.set('/v1/chat/completions', (response) =>
      response.writeHead(429, { 'retry-after-ms': '250' }).end('{"error":{"message":"slow down","code":"rate_limit_exceeded"}}'),
    );
    const error = (await client().post('/chat/completions', {}, signal()).catch((caught: unknown) => caught)) as UpstreamStatusError;
    expect(error).toBeInstanceOf(UpstreamStatusError);
    expect(error.status).toBe(429);
    expect(error.headers['retry-after-ms']).toBe('250');
    expect(error.error).toEqual({ message: 'slow down', code: 'rate_limit_exceeded' });
  });

  it('keeps no details from an error page that is not an OpenAI envelope', async () => {
    routes.set('/v1/completions', (response) => response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>'));
    const error = (await client().postStream('/completions', {}, signal()).catch((caught: unknown) => caught)) as UpstreamStatusError;
    expect(error).toBeInstanceOf(UpstreamStatusError);
    expect(error.status).toBe(502);
    expect(error.error).toBeUndefined();
  });

  it('yields the stream payloads in order and stops at [DONE]', async () => {
    routes.set('/v1/completions', (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('data: {"n":1}\n\n: ping\n\ndata: {"n":2}\n\ndata: [DONE]\n\ndata: {"n":3}\n\n');
    });
    const payloads: unknown[] = [];
    for await (const payload of await client().postStream('/completions', { stream: true }, signal())) payloads.push(payload);
    expect(payloads).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen[0]!.headers.accept).toBe('text/event-stream');
  });

  it('reads a stream to the end of the response after [DONE] instead of leaving the connection half-read', async () => {
    let responseEnded = false;
    routes.set('/v1/completions', (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"n":1}\n\ndata: [DONE]\n\n');
      setTimeout(() => {
        responseEnded = true;
        response.end();
      }, 50);
    });
    const payloads: unknown[] = [];
    for await (const payload of await client().postStream('/completions', { stream: true }, signal())) payloads.push(payload);
    expect(payloads).toEqual([{ n: 1 }]);
    expect(responseEnded).toBe(true);
  });

  it('throws UpstreamStreamError on an error event instead of a chunk', async () => {
    routes.set('/v1/completions', (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('data: {"n":1}\n\ndata: {"error":{"message":"overloaded"}}\n\n');
    });
    const iterator = (await client().postStream('/completions', {}, signal()))[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: false, value: { n: 1 } });
    await expect(iterator.next()).rejects.toBeInstanceOf(UpstreamStreamError);
  });

  it('stops a stream mid-way when its signal aborts', async () => {
    routes.set('/v1/completions', (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: {"n":1}\n\n');
    });
    const controller = new AbortController();
    const iterator = (await client().postStream('/completions', {}, controller.signal))[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: false, value: { n: 1 } });
    const pending = iterator.next();
    controller.abort(new Error('client left'));
    await expect(pending).rejects.toThrow();
  });
});
