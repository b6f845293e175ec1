// The inference variant's OpenAI-compatible endpoints: validate the body with the strict schemas,
// call the InferenceApi, answer with its JSON body or its chunks (framed by the HTTP layer).
import { z } from 'zod';
import type { ApiAnswer, ApiRoute, RequestContext, RouteOptions } from '../backend';
import { ApiError } from '../http/api-error';
import { modelNotFound, validationError } from '../http/errors';
import type { BackendResult, InferenceApi } from './api';
import { chatCompletionRequestSchema, completionRequestSchema, detokenizeRequestSchema, tokenizeRequestSchema } from './schemas';

export function inferenceRoutes(api: InferenceApi, { logContent }: RouteOptions): ApiRoute[] {
  return [
    {
      method: 'POST',
      url: '/v1/completions',
      async handle(request, ctx) {
        const body = parseBody(completionRequestSchema, request.body);
        if (logContent) ctx.log.info({ prompt: body.prompt, suffix: body.suffix }, 'request content');
        return answer(await api.createCompletion(body, ctx), ctx, logContent);
      },
    },
    {
      // The pre-2023 API named the model in the path; answered as /v1/completions with that model.
      method: 'POST',
      url: '/v1/engines/:engine/completions',
      async handle(request, ctx) {
        const raw = isPlainObject(request.body) ? { ...request.body, model: request.params.engine } : request.body;
        const body = parseBody(completionRequestSchema, raw);
        if (logContent) ctx.log.info({ prompt: body.prompt, suffix: body.suffix }, 'request content');
        return answer(await api.createCompletion(body, ctx), ctx, logContent);
      },
    },
    {
      method: 'POST',
      url: '/v1/chat/completions',
      async handle(request, ctx) {
        const body = parseBody(chatCompletionRequestSchema, request.body);
        if (logContent) ctx.log.info({ messages: body.messages }, 'request content');
        return answer(await api.createChatCompletion(body, ctx), ctx, logContent);
      },
    },
    {
      method: 'GET',
      url: '/v1/models',
      async handle(_request, ctx) {
        return { kind: 'json', body: { object: 'list', data: await api.listModels(ctx) } };
      },
    },
    {
      // A wildcard because model ids may contain slashes (e.g. `openai-community/gpt2`).
      method: 'GET',
      url: '/v1/models/*',
      async handle(request, ctx) {
        const id = request.params['*'] ?? '';
        const model = (await api.listModels(ctx)).find((candidate) => candidate.id === id);
        if (model === undefined) throw modelNotFound(id);
        return { kind: 'json', body: model };
      },
    },
    {
      method: 'POST',
      url: '/tokenize',
      async handle(request, ctx) {
        if (api.tokenize === undefined) throw noTokenizer('/tokenize');
        return { kind: 'json', body: await api.tokenize(parseBody(tokenizeRequestSchema, request.body), ctx) };
      },
    },
    {
      method: 'POST',
      url: '/detokenize',
      async handle(request, ctx) {
        if (api.detokenize === undefined) throw noTokenizer('/detokenize');
        return { kind: 'json', body: await api.detokenize(parseBody(detokenizeRequestSchema, request.body), ctx) };
      },
    },
  ];
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error, body);
  return parsed.data;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function noTokenizer(path: string): ApiError {
  return new ApiError({
    status: 404,
    type: 'invalid_request_error',
    code: 'unknown_url',
    message: `${path} is not available: this backend has no tokenizer (it is served by the inference variant with a loaded model).`,
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

function answer<TBody, TChunk>(result: BackendResult<TBody, TChunk>, ctx: RequestContext, logContent: boolean): ApiAnswer {
  if (!result.stream) {
    if (logContent) ctx.log.info({ completion: choiceTexts(result.body).map((choice) => choice.text) }, 'response content');
    return { kind: 'json', body: result.body };
  }
  return { kind: 'chunks', chunks: logContent ? loggedChunks(result.chunks, ctx) : result.chunks };
}

/** Passes chunks on and logs the completion text once the stream ended, however it ended. */
async function* loggedChunks<T>(chunks: AsyncIterable<T>, ctx: RequestContext): AsyncGenerator<T> {
  const texts = new Map<number, string>();
  let outcome: 'done' | 'error' | 'aborted' = 'aborted';
  try {
    for await (const chunk of chunks) {
      for (const { index, text } of choiceTexts(chunk)) texts.set(index, (texts.get(index) ?? '') + text);
      yield chunk;
    }
    outcome = 'done';
  } catch (error) {
    outcome = 'error';
    throw error;
  } finally {
    ctx.log.info({ completion: [...texts.values()], outcome }, 'response content');
  }
}
