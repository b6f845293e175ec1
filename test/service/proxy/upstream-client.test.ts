// The proxy's client for one upstream, against a local server: the path, query and headers each
// kind gets (OpenAI, an openai-compatible server, Azure OpenAI's deployments and v1 APIs), the body
// sent as given, and a non-2xx answer as UpstreamStatusError with its body text.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import type { UpstreamConfig } from '../../../service/proxy/config';
import { ENDPOINTS, type ProxyEndpoint } from '../../../service/proxy/endpoints';
import { UpstreamClient } from '../../../service/proxy/upstream-client';
import { UpstreamStatusError } from '../../../service/proxy/upstream-errors';

let server: Server;
let base: string;
const agent = new Agent();
const seen: { url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
let answer: (response: ServerResponse) => void = (response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');

const endpoint = (url: string): ProxyEndpoint => ENDPOINTS.find((candidate) => candidate.url === url)!;
const chat = endpoint('/v1/chat/completions');

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      seen.push({ url: request.url, headers: request.headers, body });
      answer(response);
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
});

function client(config: Partial<UpstreamConfig>): UpstreamClient {
  return new UpstreamClient(
    { name: 'u', kind: 'openai', baseURL: `${base}/v1/`, apiKey: 'sk-upstream-secret', organization: undefined, project: undefined, azure: undefined, ...config },
    agent,
  );
}
const signal = () => new AbortController().signal;

describe('UpstreamClient', () => {
  it('posts the body text as given under the base path, with the key, organization and project', async () => {
    const body = '{"model":"m", "messages":[],"seed":12345678901234567890}';
    const response = await client({ organization: 'org_1', project: 'proj_1' }).send(chat, 'm', body, false, signal());
    expect(await response.body.text()).toBe('{"ok":true}');
    expect(seen[0]).toMatchObject({ url: '/v1/chat/completions', body });
    expect(seen[0]!.headers).toMatchObject({
      authorization: 'Bearer sk-upstream-secret',
      'openai-organization': 'org_1',
      'openai-project': 'proj_1',
      'content-type': 'application/json',
      'accept-encoding': 'identity',
      accept: 'application/json',
    });
  });

  it('asks for an event stream when streaming, and sends no authorization to a keyless openai-compatible upstream', async () => {
    await (await client({ kind: 'openai-compatible', apiKey: null }).send(chat, 'm', '{}', true, signal())).body.text();
    expect(seen[0]!.headers.accept).toBe('text/event-stream');
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it("calls Azure's deployments API with the deployment in the path, the api-version and the api-key header", async () => {
    const azure = client({ kind: 'azure', baseURL: base, azure: { api: 'deployments', apiVersion: '2024-10-21' } });
    await (await azure.send(chat, 'gpt4o mini/prod', '{}', false, signal())).body.text();
    await (await azure.send(endpoint('/v1/embeddings'), 'embed-prod', '{}', false, signal())).body.text();
    await (await azure.send(endpoint('/v1/responses'), 'gpt4o-prod', '{}', false, signal())).body.text();
    expect(seen.map((request) => request.url)).toEqual([
      '/openai/deployments/gpt4o%20mini%2Fprod/chat/completions?api-version=2024-10-21',
      '/openai/deployments/embed-prod/embeddings?api-version=2024-10-21',
      '/openai/responses?api-version=2024-10-21',
    ]);
    expect(seen[0]!.headers['api-key']).toBe('sk-upstream-secret');
    expect(seen[0]!.headers.authorization).toBeUndefined();
    expect(azure.serves(endpoint('/v1/moderations'))).toBe(false);
  });

  it("calls Azure's v1 API under /openai/v1 with a Bearer key and no api-version", async () => {
    const azure = client({ kind: 'azure', baseURL: base, azure: { api: 'v1', apiVersion: undefined } });
    await (await azure.send(chat, 'gpt4o-prod', '{}', false, signal())).body.text();
    expect(seen[0]!.url).toBe('/openai/v1/chat/completions');
    expect(seen[0]!.headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(seen[0]!.headers['api-key']).toBeUndefined();
  });

  it('throws UpstreamStatusError with the status, headers, body text and the envelope\'s error object', async () => {
    const text = '{"error":{"message":"slow down","code":"rate_limit_exceeded"}}';
    answer = (response) => response.writeHead(429, { 'retry-after-ms': '250' }).end(text);
    const error = (await client({}).send(chat, 'm', '{}', false, signal()).catch((caught: unknown) => caught)) as UpstreamStatusError;
    expect(error).toBeInstanceOf(UpstreamStatusError);
    expect(error.status).toBe(429);
    expect(error.headers['retry-after-ms']).toBe('250');
    expect(error.body).toBe(text);
    expect(error.error).toEqual({ message: 'slow down', code: 'rate_limit_exceeded' });
  });

  it('keeps no error object from an error page that is not an OpenAI envelope, and cuts a huge one', async () => {
    answer = (response) => response.writeHead(502, { 'content-type': 'text/html' }).end(`<h1>Bad gateway</h1>${'x'.repeat(200_000)}`);
    const error = (await client({}).send(chat, 'm', '{}', true, signal()).catch((caught: unknown) => caught)) as UpstreamStatusError;
    expect(error.status).toBe(502);
    expect(error.error).toBeUndefined();
    expect(error.body.length).toBe(64 * 1024);
  });
});
