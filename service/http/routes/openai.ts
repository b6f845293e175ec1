// The OpenAI-compatible endpoints: validate the body, call the backend, answer with its JSON body
// or frame its chunks as server-sent events.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ApiError } from '../api-error';
import type { Backend, BackendResult, RequestContext } from '../../backend';
import { modelNotFound, toApiError, validationError } from '../errors';
import { requestContext } from '../request-context';
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  detokenizeRequestSchema,
  tokenizeRequestSchema,
} from '../schemas';
import { SSE_HEADERS, eventStream } from '../sse';
import { API_ROUTE } from './route-kinds';

export interface OpenAiRoutesOptions {
  readonly backend: Backend;
  /** Log prompts and completions (LOG_CONTENT); off by default because they may hold personal data. */
  readonly logContent: boolean;
}

export function registerOpenAiRoutes(app: FastifyInstance, { backend, logContent }: OpenAiRoutesOptions): void {
  const config = API_ROUTE;

  app.post('/v1/completions', { config }, async (request, reply) => {
    const body = parseBody(completionRequestSchema, request.body);
    if (logContent) request.log.info({ prompt: body.prompt, suffix: body.suffix }, 'request content');
    return answer(request, reply, logContent, (ctx) => backend.createCompletion(body, ctx));
  });

  // The pre-2023 API named the model in the path; answered as /v1/completions with that model.
  app.post<{ Params: { engine: string } }>('/v1/engines/:engine/completions', { config }, async (request, reply) => {
    const raw = isPlainObject(request.body) ? { ...request.body, model: request.params.engine } : request.body;
    const body = parseBody(completionRequestSchema, raw);
    if (logContent) request.log.info({ prompt: body.prompt, suffix: body.suffix }, 'request content');
    return answer(request, reply, logContent, (ctx) => backend.createCompletion(body, ctx));
  });

  app.post('/v1/chat/completions', { config }, async (request, reply) => {
    const body = parseBody(chatCompletionRequestSchema, request.body);
    if (logContent) request.log.info({ messages: body.messages }, 'request content');
    return answer(request, reply, logContent, (ctx) => backend.createChatCompletion(body, ctx));
  });

  app.get('/v1/models', { config }, async (request, reply) => {
    const data = await backend.listModels(requestContext(request, reply));
    return { object: 'list', data };
  });

  // A wildcard because model ids may contain slashes (e.g. `openai-community/gpt2`).
  app.get<{ Params: { '*': string } }>('/v1/models/*', { config }, async (request, reply) => {
    const id = request.params['*'];
    const models = await backend.listModels(requestContext(request, reply));
    const model = models.find((candidate) => candidate.id === id);
    if (model === undefined) throw modelNotFound(id);
    return model;
  });

  app.post('/tokenize', { config }, async (request, reply) => {
    if (backend.tokenize === undefined) throw noTokenizer(backend, '/tokenize');
    const body = parseBody(tokenizeRequestSchema, request.body);
    return backend.tokenize(body, requestContext(request, reply));
  });

  app.post('/detokenize', { config }, async (request, reply) => {
    if (backend.detokenize === undefined) throw noTokenizer(backend, '/detokenize');
    const body = parseBody(detokenizeRequestSchema, request.body);
    return backend.detokenize(body, requestContext(request, reply));
  });
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error, body);
  return parsed.data;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function noTokenizer(backend: Backend, path: string): ApiError {
  return new ApiError({
    status: 404,
    type: 'invalid_request_error',
    code: 'unknown_url',
    message: `${path} is not available: the ${backend.variant} backend has no tokenizer (it is served by the inference variant).`,
  });
}

/** Completion text of a response body or chunk, per choice (for LOG_CONTENT). */
function choiceTexts(value: unknown): { index: number; text: string }[] {
  const choices = (value as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return [];
  return choices.map((choice: { index?: number; text?: string; message?: { content?: string }; delta?: { content?: string } }) => ({
    index: choice.index ?? 0,
    text: choice.text ?? choice.message?.content ?? choice.delta?.content ?? '',
  }));
}

async function answer<TBody, TChunk>(
  request: FastifyRequest,
  reply: FastifyReply,
  logContent: boolean,
  call: (ctx: RequestContext) => Promise<BackendResult<TBody, TChunk>>,
): Promise<FastifyReply> {
  const result = await call(requestContext(request, reply));
  if (!result.stream) {
    if (logContent) request.log.info({ completion: choiceTexts(result.body).map((choice) => choice.text) }, 'response content');
    return reply.send(result.body);
  }
  const iterator = result.chunks[Symbol.asyncIterator]();
  // Waiting for the first chunk before sending headers lets an error the backend raises on its
  // first step still be answered with its own status code instead of a 200 stream.
  const first = await iterator.next();
  const texts = new Map<number, string>();
  reply.headers(SSE_HEADERS);
  reply.raw.socket?.setNoDelay(true);
  return reply.send(
    eventStream(first, iterator, {
      onChunk: logContent
        ? (chunk) => {
            for (const { index, text } of choiceTexts(chunk)) texts.set(index, (texts.get(index) ?? '') + text);
          }
        : undefined,
      errorEvent(error) {
        const { apiError, internal } = toApiError(error);
        if (internal) request.log.error({ err: error }, 'backend failed mid-stream');
        else request.log.warn({ err: error }, 'backend error mid-stream');
        return apiError.toEnvelope();
      },
      onEnd(outcome) {
        if (logContent) request.log.info({ completion: [...texts.values()], outcome }, 'response content');
        else if (outcome !== 'done') request.log.info({ outcome }, 'stream ended early');
      },
    }),
  );
}
