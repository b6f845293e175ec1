// Writes a route's ApiAnswer: a JSON value, relayed bytes, or a stream of server-sent events whose
// headers wait for the first event (so an error before it still gets its own status code).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiAnswer } from '../backend';
import { toApiError } from './errors';
import { SSE_DONE, SSE_HEADERS, eventStream, sseFrame } from './sse';

export async function sendAnswer(request: FastifyRequest, reply: FastifyReply, answer: ApiAnswer): Promise<FastifyReply> {
  if (answer.headers !== undefined) reply.headers(answer.headers);
  switch (answer.kind) {
    case 'json':
      return reply.code(answer.status ?? 200).send(answer.body);
    case 'raw':
      return reply.code(answer.status).send(answer.body);
    case 'chunks':
      return sendEvents(request, reply, answer.chunks, sseFrame, SSE_DONE);
    case 'frames':
      return sendEvents(request, reply, answer.frames, (frame) => frame, undefined);
  }
}

async function sendEvents<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  items: AsyncIterable<T>,
  frame: (item: T) => string,
  end: string | undefined,
): Promise<FastifyReply> {
  const iterator = items[Symbol.asyncIterator]();
  const first = await iterator.next();
  reply.headers(SSE_HEADERS);
  reply.raw.socket?.setNoDelay(true);
  return reply.send(
    eventStream(first, iterator, {
      frame,
      end,
      errorFrame(error) {
        const { apiError, internal } = toApiError(error);
        if (internal) request.log.error({ err: error }, 'backend failed mid-stream');
        else request.log.warn({ err: error }, 'backend error mid-stream');
        return sseFrame(apiError.toEnvelope());
      },
      onEnd(outcome) {
        if (outcome !== 'done') request.log.info({ outcome }, 'stream ended early');
      },
    }),
  );
}
