// The playground's HTTP side (service/http/routes/playground.ts): the page and its files with a strict
// CSP and the usual security headers, the info the page reads, no key needed for any of it, 404s for
// anything else, and PLAYGROUND off means GET / is an unknown URL. The page itself runs in
// playground-browser.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENT_SECURITY_POLICY, PLAYGROUND_DIR } from '../../../service/http/routes/playground';
import { createFakeBackend } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';

const servers: TestServer[] = [];
async function serve(options: Parameters<typeof startTestServer>[1] = {}, variant: 'inference' | 'proxy' = 'inference'): Promise<TestServer> {
  const server = await startTestServer({ ...createFakeBackend(), variant }, options);
  servers.push(server);
  return server;
}

afterAll(async () => {
  for (const server of servers) await server.close();
});

const html = readFileSync(join(PLAYGROUND_DIR, 'index.html'), 'utf8');
/** Every same-origin file index.html loads: script src, stylesheet and icon hrefs. */
const referenced = [...html.matchAll(/(?:src|href)="(\/playground\/[^"]+)"/g)].map((match) => match[1] as string);

describe('the playground page', () => {
  it('is served at GET / without a key, even where the API needs one, with the CSP and security headers', async () => {
    const server = await serve({ keys: { alice: 'alice-key' } });
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await response.text()).toBe(html);
    expect(Object.fromEntries(['content-security-policy', 'x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-opener-policy', 'cache-control'].map((name) => [name, response.headers.get(name)]))).toEqual({
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-cache',
    });
    // Plain HTTP here: HSTS is only for a process that terminates TLS itself.
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });

  it('has a CSP with no inline or eval sources, same-origin only, no framing, and Trusted Types required', () => {
    const directives = Object.fromEntries(CONTENT_SECURITY_POLICY.split('; ').map((directive) => [directive.split(' ')[0], directive.split(' ').slice(1).join(' ')]));
    expect(directives).toMatchObject({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'object-src': "'none'",
      'base-uri': "'none'",
      'frame-ancestors': "'none'",
      'require-trusted-types-for': "'script'",
    });
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|data:|https?:|\*/);
  });

  it('holds no inline script, inline style or event-handler attribute the CSP would block', () => {
    const files = readdirSync(PLAYGROUND_DIR).filter((name) => name.endsWith('.html'));
    expect(files).toEqual(['index.html']);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
  });

  it('serves every file index.html loads, with its type and the same headers, and answers 304 to its ETag', async () => {
    const server = await serve();
    expect(referenced.sort()).toEqual(['/playground/favicon.svg', '/playground/playground.css', '/playground/playground.js']);
    const types: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };
    // playground.js imports these as modules.
    for (const path of [...referenced, '/playground/api.js', '/playground/sse.js']) {
      const response = await fetch(`${server.url}${path}`);
      const file = path.replace('/playground/', '');
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 200, type: types[file.split('.').pop() ?? ''] });
      expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(join(PLAYGROUND_DIR, file)))).toBe(true);
      expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      const etag = response.headers.get('etag') ?? '';
      expect(etag).toMatch(/^"[0-9a-f]{20}"$/);
      const again = await fetch(`${server.url}${path}`, { headers: { 'if-none-match': etag } });
      expect(again.status).toBe(304);
    }
  });

  it('tells the page the variant and whether the API needs a key', async () => {
    const open = await serve();
    const keyed = await serve({ keys: { alice: 'alice-key' } }, 'proxy');
    expect(await (await fetch(`${open.url}/playground/info.json`)).json()).toEqual({ variant: 'inference', authRequired: false });
    const info = await fetch(`${keyed.url}/playground/info.json`);
    expect(await info.json()).toEqual({ variant: 'proxy', authRequired: true });
    expect(info.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  it('answers 404 unknown_url for any other file under /playground/, the source tsconfig and index.html included', async () => {
    const server = await serve();
    for (const path of ['/playground/tsconfig.json', '/playground/index.html', '/playground/..%2Fapp.ts', '/playground/', '/playground/nope.js']) {
      const response = await fetch(`${server.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
    }
  });

  it('is not served with playground: false: GET / and its files are unknown URLs', async () => {
    const server = await serve({ playground: false });
    for (const path of ['/', '/playground/playground.js', '/playground/info.json']) {
      const response = await fetch(`${server.url}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(await response.json()).toMatchObject({ error: { code: 'unknown_url', message: expect.stringContaining(`GET ${path}`) } });
    }
  });

  it('counts its requests in the HTTP metrics under bounded route labels', async () => {
    const server = await serve();
    await fetch(`${server.url}/`);
    await fetch(`${server.url}/playground/api.js`);
    await fetch(`${server.url}/playground/nope.js`);
    const metrics = await server.registry.getSingleMetricAsString('http_requests_total');
    expect(metrics).toContain('http_requests_total{method="GET",route="/",status="200"} 1');
    expect(metrics).toContain('http_requests_total{method="GET",route="/playground/:file",status="200"} 1');
    expect(metrics).toContain('http_requests_total{method="GET",route="/playground/:file",status="404"} 1');
  });
});
