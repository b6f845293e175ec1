// The inference backend: serves the local engine behind the HTTP surface. Checks the model
// name, plans the request, starts generation (so errors surface before any byte is sent) and
// shapes the events as OpenAI responses or chunks.
import { randomUUID } from 'node:crypto';
import type { Model } from 'openai/resources/models';
import type { Registry } from 'prom-client';
import type { RequestContext } from '../backend';
import type { Engine } from '../engine/types';
import { ApiError } from '../http/api-error';
import type { InferenceBackend } from './api';
import { chatBody, chatChunks } from './chat-responses';
import { createChatFormatter } from './chat-prompt';
import { completionBody, completionChunks, promptTokenCount, type ResponseMeta } from './completion-responses';
import { toApiError } from './engine-errors';
import { startGeneration, type TaggedEvent } from './event-stream';
import { createInferenceMetrics, type RequestMetrics } from './metrics';
import { planChat, planCompletion, type RequestPlan } from './request-plan';
import { inferenceRoutes } from './routes';

export interface InferenceBackendOptions {
  /** The `model` name clients send; requests for any other name get 404 model_not_found. */
  readonly servedModelName: string;
  readonly registry: Registry;
}

/**
 * Wraps a response's chunks so metrics end with the stream, and an engine error raised mid-stream
 * (e.g. its worker failed) reaches the client as its own envelope in the final error event.
 */
async function* instrumented<T>(chunks: AsyncIterable<T>, metrics: RequestMetrics, promptParam: 'prompt' | 'messages'): AsyncGenerator<T> {
  try {
    yield* chunks;
  } catch (error) {
    throw toApiError(error, promptParam);
  } finally {
    metrics.end();
  }
}

export function createInferenceBackend(engine: Engine, options: InferenceBackendOptions): InferenceBackend {
  const metrics = createInferenceMetrics(options.registry, engine, options.servedModelName);
  const chat = createChatFormatter(engine.tokenizer);
  const created = Math.floor(Date.now() / 1000);
  let closed = false;

  const checkModel = (model: string): void => {
    if (model !== options.servedModelName) {
      throw new ApiError({
        status: 404,
        type: 'invalid_request_error',
        code: 'model_not_found',
        param: 'model',
        message: `The model '${model}' does not exist. This server serves '${options.servedModelName}'.`,
      });
    }
  };

  const start = (plan: RequestPlan, ctx: RequestContext): { events: AsyncIterable<TaggedEvent>; requestMetrics: RequestMetrics } => {
    const events = startGeneration(engine, plan, ctx.signal);
    return { events, requestMetrics: metrics.startRequest(promptTokenCount(plan)) };
  };

  const meta = (prefix: string): ResponseMeta => ({
    id: `${prefix}-${randomUUID().replaceAll('-', '')}`,
    created: Math.floor(Date.now() / 1000),
    model: options.servedModelName,
  });

  const backend: InferenceBackend = {
    variant: 'inference',
    isReady: () => !closed && engine.isReady(),
    routes: (routeOptions) => inferenceRoutes(backend, routeOptions),

    async listModels(): Promise<Model[]> {
      return [{ id: options.servedModelName, object: 'model', created, owned_by: 'gpt2-openai-toolkit' }];
    },

    async createCompletion(request, ctx) {
      checkModel(request.model);
      try {
        const plan = planCompletion(request, engine);
        const { events, requestMetrics } = start(plan, ctx);
        const completionOptions = { echo: request.echo === true, includeUsage: request.stream_options?.include_usage === true };
        if (request.stream) {
          return { stream: true, chunks: instrumented(completionChunks(events, plan, completionOptions, meta('cmpl'), requestMetrics), requestMetrics, 'prompt') };
        }
        try {
          return { stream: false, body: await completionBody(events, plan, completionOptions, meta('cmpl'), requestMetrics) };
        } finally {
          requestMetrics.end();
        }
      } catch (error) {
        throw toApiError(error, 'prompt');
      }
    },

    async createChatCompletion(request, ctx) {
      checkModel(request.model);
      try {
        const plan = planChat(request, engine, chat);
        const { events, requestMetrics } = start(plan, ctx);
        if (request.stream) {
          const includeUsage = request.stream_options?.include_usage === true;
          return { stream: true, chunks: instrumented(chatChunks(events, plan, engine.tokenizer, includeUsage, meta('chatcmpl'), requestMetrics), requestMetrics, 'messages') };
        }
        try {
          return { stream: false, body: await chatBody(events, plan, engine.tokenizer, meta('chatcmpl'), requestMetrics) };
        } finally {
          requestMetrics.end();
        }
      } catch (error) {
        throw toApiError(error, 'messages');
      }
    },

    async tokenize(request) {
      if (request.model !== undefined) checkModel(request.model);
      try {
        // Messages become exactly the ids a chat completion would run.
        const tokens = 'prompt' in request ? engine.tokenizer.encode(request.prompt) : chat.render(request.messages).ids;
        return { tokens, count: tokens.length, max_model_len: engine.contextLength };
      } catch (error) {
        throw toApiError(error, 'messages');
      }
    },

    async detokenize(request) {
      if (request.model !== undefined) checkModel(request.model);
      const bad = request.tokens.find((id) => id >= engine.tokenizer.vocabSize);
      if (bad !== undefined) {
        throw new ApiError({
          status: 400,
          type: 'invalid_request_error',
          code: 'invalid_value',
          param: 'tokens',
          message: `Token id ${bad} is out of range: the vocabulary has ${engine.tokenizer.vocabSize} tokens.`,
        });
      }
      return { prompt: engine.tokenizer.decode(request.tokens) };
    },

    async close() {
      closed = true;
      await engine.close();
    },
  };
  return backend;
}
