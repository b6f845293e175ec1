// TEST DOUBLE: a scripted Backend for testing the HTTP surface without a model. The prompt (or the
// last message) chooses the behaviour: "rate-limit" -> 429, "fail-mid-stream" -> error after two
// chunks, "boom" -> a non-ApiError (bug) -> 500, "slow" -> chunks every `chunkDelayMs` until aborted.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Completion } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import { ApiError } from '../../service/http/api-error';
import type { RequestContext } from '../../service/backend';
import type { BackendResult, InferenceBackend, TokenizeResult } from '../../service/inference/api';
import { inferenceRoutes } from '../../service/inference/routes';
import type { ChatCompletionRequest, CompletionRequest, DetokenizeRequest, TokenizeRequest } from '../../service/inference/schemas';

export const FAKE_MODEL = 'fake-model';

export interface FakeBackendOptions {
  readonly ready?: boolean;
  readonly withTokenizer?: boolean;
  /** Delay between streamed chunks for "slow" prompts. @default 20 */
  readonly chunkDelayMs?: number;
  /** Streamed chunks per request (slow prompts stream until aborted). @default 3 */
  readonly chunks?: number;
}

export interface FakeBackend extends InferenceBackend {
  ready: boolean;
  closed: boolean;
  /** Contexts of every call, in order, to check signals, ids and clients. */
  readonly contexts: RequestContext[];
  /** Resolves when a request's signal aborted (disconnect). */
  readonly aborted: Promise<RequestContext>[];
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

function promptText(prompt: CompletionRequest['prompt']): string {
  return typeof prompt === 'string' ? prompt : JSON.stringify(prompt);
}

function lastMessage(request: ChatCompletionRequest): string {
  const content = request.messages[request.messages.length - 1]?.content;
  return typeof content === 'string' ? content : JSON.stringify(content ?? '');
}

export function createFakeBackend(options: FakeBackendOptions = {}): FakeBackend {
  const chunkDelayMs = options.chunkDelayMs ?? 20;
  const chunkCount = options.chunks ?? 3;
  const created = 1_700_000_000;

  function record(ctx: RequestContext): void {
    backend.contexts.push(ctx);
    backend.aborted.push(
      new Promise((resolve) => {
        if (ctx.signal.aborted) resolve(ctx);
        else ctx.signal.addEventListener('abort', () => resolve(ctx));
      }),
    );
  }

  function checkScript(model: string, text: string, ctx: RequestContext): void {
    if (model !== FAKE_MODEL) {
      throw new ApiError({ status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model', message: `The model '${model}' does not exist` });
    }
    if (text.includes('rate-limit')) {
      throw new ApiError({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'Rate limit reached; slow down', headers: { 'retry-after': '7' } });
    }
    if (text.includes('boom')) throw new TypeError('fake backend bug');
    ctx.setHeader('x-fake-backend', 'yes');
  }

  async function* pieces<T>(text: string, ctx: RequestContext, make: (piece: string, index: number) => T): AsyncGenerator<T> {
    const slow = text.includes('slow');
    for (let index = 0; slow || index < chunkCount; index += 1) {
      if (ctx.signal.aborted) return;
      if (index === 2 && text.includes('fail-mid-stream')) {
        throw new ApiError({ status: 500, type: 'server_error', code: 'engine_failed', message: 'fake failure mid-stream' });
      }
      yield make(`tok${index} `, index);
      if (slow || chunkDelayMs > 0) await sleep(slow ? chunkDelayMs : 0, ctx.signal);
    }
  }

  const backend: FakeBackend = {
    variant: 'inference',
    ready: options.ready ?? true,
    closed: false,
    contexts: [],
    aborted: [],
    isReady: () => backend.ready,
    routes: (routeOptions) => inferenceRoutes(backend, routeOptions),
    async listModels(ctx): Promise<Model[]> {
      record(ctx);
      return [
        { id: FAKE_MODEL, object: 'model', created, owned_by: 'test' },
        { id: 'org/with-slash', object: 'model', created, owned_by: 'test' },
      ];
    },
    async createCompletion(request: CompletionRequest, ctx): Promise<BackendResult<Completion, Completion>> {
      record(ctx);
      const text = promptText(request.prompt);
      checkScript(request.model, text, ctx);
      const completion = (piece: string, index: number): Completion => ({
        id: `cmpl-${ctx.requestId}`,
        object: 'text_completion',
        created,
        model: request.model,
        choices: [{ index: 0, text: piece, finish_reason: index === chunkCount - 1 ? 'length' : (null as never), logprobs: null }],
      });
      if (request.stream === true) return { stream: true, chunks: pieces(text, ctx, completion) };
      return {
        stream: false,
        body: {
          ...completion(`echo:${text}`, chunkCount - 1),
          usage: { prompt_tokens: 1, completion_tokens: request.max_tokens ?? 16, total_tokens: 1 + (request.max_tokens ?? 16) },
        },
      };
    },
    async createChatCompletion(request: ChatCompletionRequest, ctx): Promise<BackendResult<ChatCompletion, ChatCompletionChunk>> {
      record(ctx);
      const text = lastMessage(request);
      checkScript(request.model, text, ctx);
      if (request.stream === true) {
        return {
          stream: true,
          chunks: pieces(text, ctx, (piece, index) => ({
            id: `chatcmpl-${ctx.requestId}`,
            object: 'chat.completion.chunk',
            created,
            model: request.model,
            choices: [{ index: 0, delta: { role: 'assistant', content: piece }, finish_reason: index === chunkCount - 1 ? 'stop' : null }],
          })),
        };
      }
      return {
        stream: false,
        body: {
          id: `chatcmpl-${ctx.requestId}`,
          object: 'chat.completion',
          created,
          model: request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: `echo:${text}`, refusal: null }, finish_reason: 'stop', logprobs: null }],
        },
      };
    },
    async close() {
      backend.closed = true;
    },
  };
  if (options.withTokenizer ?? true) {
    backend.tokenize = async (request: TokenizeRequest): Promise<TokenizeResult> => {
      const text = 'prompt' in request ? request.prompt : JSON.stringify(request.messages);
      const tokens = [...text].map((char) => char.codePointAt(0) ?? 0);
      return { tokens, count: tokens.length, max_model_len: 1024 };
    };
    backend.detokenize = async (request: DetokenizeRequest) => ({ prompt: String.fromCodePoint(...request.tokens) });
  }
  return backend;
}
