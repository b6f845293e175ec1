// The HTTP server's connection timeouts, derived from one number (KEEP_ALIVE_TIMEOUT_SECONDS) so that they
// stay in the order Node needs: idle keep-alive < headers timeout <= request timeout.
import type { Server } from 'node:http';

export interface ServerTimeouts {
  /** How long an idle kept-alive connection stays open (Node's `server.keepAliveTimeout`). */
  readonly keepAliveMs: number;
  /** How long a request's headers may take to arrive once its first byte has (`server.headersTimeout`). */
  readonly headersMs: number;
  /**
   * How long the whole request (headers and body) may take to arrive (`server.requestTimeout`). Node stops
   * this clock once the request is received, so it never cuts a long response stream.
   */
  readonly requestMs: number;
}

export const DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS = 75;

/**
 * The headers timeout sits just above the keep-alive: the usual advice for Node behind a load balancer (a
 * connection the balancer reuses at the end of the idle period must not be cut while its headers arrive).
 */
const HEADERS_MARGIN_MS = 1000;

/** After the headers, time for the body: 1 MiB (BODY_LIMIT_BYTES' default) at about 20 KB/s. */
const BODY_UPLOAD_MS = 60_000;

export function serverTimeouts(keepAliveTimeoutSeconds: number): ServerTimeouts {
  const keepAliveMs = keepAliveTimeoutSeconds * 1000;
  const headersMs = keepAliveMs + HEADERS_MARGIN_MS;
  return { keepAliveMs, headersMs, requestMs: headersMs + BODY_UPLOAD_MS };
}

/** Sets the timeouts on a Node HTTP(S) server (fastify exposes keep-alive and request timeouts, not the headers one). */
export function applyServerTimeouts(server: Pick<Server, 'keepAliveTimeout' | 'headersTimeout' | 'requestTimeout'>, timeouts: ServerTimeouts): void {
  server.keepAliveTimeout = timeouts.keepAliveMs;
  server.headersTimeout = timeouts.headersMs;
  server.requestTimeout = timeouts.requestMs;
}
