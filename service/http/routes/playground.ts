// The playground: its page at GET /, its files under /playground/ (read once from
// service/http/playground/) with a strict Content-Security-Policy, and /playground/info.json, which
// tells the page which variant answers here and whether it needs a key. Nothing served here is secret.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unknownUrl } from '../errors';
import { OPS_ROUTE } from './route-kinds';

export const PLAYGROUND_DIR = join(__dirname, '..', 'playground');

/** Every file the page uses, with its content type; nothing else under /playground/ is served. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'playground.css': 'text/css; charset=utf-8',
  'playground.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'sse.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * Only this origin's files and API, no inline script or style, no plugins, no framing, and Trusted
 * Types with no policy: the page cannot write HTML from strings at all, so text from a model
 * cannot become markup.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  // Revalidated at every load (ETag): a new image's page never runs with an old cached script.
  'cache-control': 'no-cache',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

export interface PlaygroundRoutesOptions {
  readonly variant: 'inference' | 'proxy';
  /** Whether /v1/* needs a bearer key here (the page then asks for one before listing models). */
  readonly authRequired: boolean;
}

function loadAssets(): Map<string, Asset> {
  return new Map(
    Object.entries(FILES).map(([name, type]) => {
      let body: Buffer;
      try {
        body = readFileSync(join(PLAYGROUND_DIR, name));
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new Error(`the playground file ${join(PLAYGROUND_DIR, name)} cannot be read (${reason}): the image must hold service/http/playground/, or set PLAYGROUND=false`);
      }
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 20)}"`;
      return [name, { body, type, etag }] as const;
    }),
  );
}

function securityHeaders(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.headers(SECURITY_HEADERS);
  // Only when this process terminates TLS itself (TLS_CERT_FILE); behind an ingress, the ingress sets it.
  if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000');
  return reply;
}

export function registerPlaygroundRoutes(app: FastifyInstance, options: PlaygroundRoutesOptions): void {
  const assets = loadAssets();
  // Served without a key, like /health: the page holds nothing secret and asks for the key itself.
  const config = OPS_ROUTE;

  const serve = (request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply => {
    securityHeaders(request, reply).header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  app.get('/', { config }, async (request, reply) => serve(request, reply, assets.get('index.html') as Asset));

  app.get('/playground/info.json', { config }, async (request, reply) =>
    securityHeaders(request, reply).send({ variant: options.variant, authRequired: options.authRequired }),
  );

  app.get<{ Params: { file: string } }>('/playground/:file', { config }, async (request, reply) => {
    const asset = request.params.file === 'index.html' ? undefined : assets.get(request.params.file);
    if (asset === undefined) throw unknownUrl(request);
    return serve(request, reply, asset);
  });
}
