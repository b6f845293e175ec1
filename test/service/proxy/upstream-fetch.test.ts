// The lean fetch the proxy gives the openai client: streaming bodies, repeated headers, bodiless
// statuses, identity encoding and abort.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { dispatcherFetch } from '../../../service/proxy/upstream-fetch';

let server: Server;
let base: string;
const agent = new Agent();
const fetchVia = dispatcherFetch(agent);
const seen: { method?: string; body: string; acceptEncoding?: string }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      seen.push({ method: request.method, body, acceptEncoding: request.headers['accept-encoding'] });
      if (request.url === '/empty') {
        response.writeHead(204, { 'x-a': '1' }).end();
      } else if (request.url === '/slow') {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('first;');
      } else {
        response.setHeader('set-cookie', ['a=1', 'b=2']);
        response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: body }));
      }
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

describe('dispatcherFetch', () => {
  it('posts a string body, asks for identity encoding and returns status, headers and body', async () => {
    const response = await fetchVia(`${base}/echo?x=1`, { method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' } });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ echoed: '{"q":1}' });
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(seen.at(-1)).toMatchObject({ method: 'POST', acceptEncoding: 'identity' });
  });

  it('answers a 204 with a null body instead of throwing', async () => {
    const response = await fetchVia(`${base}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
    expect(response.headers.get('x-a')).toBe('1');
  });

  it('streams the body as it arrives and stops when the signal aborts', async () => {
    const controller = new AbortController();
    const response = await fetchVia(`${base}/slow`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first;');
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
  });
});
