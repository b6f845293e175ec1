// Per-request state the HTTP layer hands a backend: request id, client, logger, response headers,
// access-log fields, and the AbortSignal (app.ts aborts it when the client goes away before its response ended).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientIdentity, RequestContext } from '../backend';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on API routes; undefined when keys are disabled. */
    client: ClientIdentity | undefined;
    /** Aborted on client disconnect or when draining runs out of time; set on API routes. */
    abortController: AbortController | undefined;
    /** The JSON body's text as received; set by the JSON parser. */
    bodyText: string | undefined;
    /** Fields a backend added to this request's access-log line. */
    logFields: Record<string, unknown> | undefined;
  }
}

/** Client-supplied ids are echoed only when they are short and printable (they end up in logs). */
const CLIENT_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestIdFor(request: IncomingMessage): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

export function requestContext(request: FastifyRequest, reply: FastifyReply): RequestContext {
  const controller = request.abortController ?? new AbortController();
  return {
    requestId: request.id,
    signal: controller.signal,
    client: request.client,
    log: request.log as RequestContext['log'],
    setHeader(name, value) {
      // Headers can only change before the first byte; later calls (mid-stream) have no effect.
      if (!reply.raw.headersSent) reply.header(name, value);
    },
    annotate(fields) {
      request.logFields = request.logFields === undefined ? { ...fields } : Object.assign(request.logFields, fields);
    },
  };
}
