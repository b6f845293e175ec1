// The smoke test's checks after readiness, in the order they run. Each returns a one-line detail on
// success or throws CheckFailure saying what was expected and what came back.
import type { z } from 'zod';
import { CheckFailure, excerpt, readEventStream, request, type HttpResponse } from './http';
import type { SmokeOptions } from './options';
import {
  chatCompletionSchema,
  completionChunkSchema,
  completionSchema,
  describeIssues,
  errorEnvelopeSchema,
  modelListSchema,
} from './schemas';

export interface Check {
  readonly name: string;
  /** Checks that need a key are left out when --api-key is not given. */
  readonly needsApiKey?: boolean;
  run(options: SmokeOptions): Promise<string>;
}

const MAX_TOKENS = 8;
const UNKNOWN_MODEL = 'smoke-test-no-such-model';

const timeoutMs = (options: SmokeOptions) => options.requestTimeoutSeconds * 1000;
const answer = (response: HttpResponse) => `${response.status} ${excerpt(response.text)}`;

function parseJson<T>(response: HttpResponse, schema: z.ZodType<T>, expected: string): T {
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new CheckFailure(expected, `${response.status} with a body that is not JSON: ${excerpt(response.text)}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new CheckFailure(expected, `${describeIssues(parsed.error)} in ${excerpt(response.text)}`);
  return parsed.data;
}

function expectStatus(response: HttpResponse, status: number, expected: string): void {
  if (response.status !== status) throw new CheckFailure(expected, answer(response));
}

/** The local service echoes the model name; a proxied upstream may add a date (gpt-4o-mini-2024-07-18). */
function expectModel(options: SmokeOptions, requested: string, answered: string, expected: string): void {
  const same = options.variant === 'proxy' ? answered.startsWith(requested) : answered === requested;
  if (!same) throw new CheckFailure(expected, `a response for model "${answered}"`);
}

/** An error answer: the status and OpenAI's envelope, and the code when one is given. */
function expectErrorEnvelope(response: HttpResponse, status: number, code: string | undefined, expected: string): string {
  expectStatus(response, status, expected);
  const { error } = parseJson(response, errorEnvelopeSchema, expected);
  if (code !== undefined && error.code !== code) {
    throw new CheckFailure(expected, `${response.status} with code ${JSON.stringify(error.code ?? null)}: ${excerpt(error.message)}`);
  }
  return `${response.status} ${error.type}${error.code ? `/${error.code}` : ''}`;
}

const health: Check = {
  name: 'health',
  async run(options) {
    const expected = 'GET /health to return 200';
    const response = await request(`${options.url}/health`, { apiKey: options.apiKey, timeoutMs: timeoutMs(options) }, expected);
    expectStatus(response, 200, expected);
    return `200 ${excerpt(response.text, 60)}`;
  },
};

const models: Check = {
  name: 'models',
  async run(options) {
    const expected = `GET /v1/models to return 200 with a model list naming "${options.model}"`;
    const response = await request(`${options.url}/v1/models`, { apiKey: options.apiKey, timeoutMs: timeoutMs(options) }, expected);
    expectStatus(response, 200, expected);
    const ids = parseJson(response, modelListSchema, expected).data.map((model) => model.id);
    if (!ids.includes(options.model)) throw new CheckFailure(expected, `a list of ${excerpt(ids.join(', '), 200)}`);
    return `${ids.length} model(s): ${excerpt(ids.join(', '), 60)}`;
  },
};

const completion: Check = {
  name: 'completion',
  async run(options) {
    const expected = `POST /v1/completions to return 200 with a text_completion of at most ${MAX_TOKENS} tokens`;
    const body = { model: options.model, prompt: 'The capital of France is', max_tokens: MAX_TOKENS, temperature: 0 };
    const response = await request(
      `${options.url}/v1/completions`,
      { method: 'POST', body, apiKey: options.apiKey, timeoutMs: timeoutMs(options) },
      expected,
    );
    expectStatus(response, 200, expected);
    const parsed = parseJson(response, completionSchema, expected);
    expectModel(options, options.model, parsed.model, expected);
    if (parsed.usage.completion_tokens > MAX_TOKENS) {
      throw new CheckFailure(expected, `usage.completion_tokens = ${parsed.usage.completion_tokens}`);
    }
    return `${parsed.usage.completion_tokens} tokens: ${JSON.stringify(excerpt(parsed.choices[0]?.text ?? '', 40))}`;
  },
};

const streamedCompletion: Check = {
  name: 'completion (stream)',
  async run(options) {
    const expected = 'POST /v1/completions with stream:true to send text_completion chunks, then data: [DONE]';
    const body = { model: options.model, prompt: 'Once upon a time', max_tokens: MAX_TOKENS, temperature: 0, stream: true };
    const stream = await readEventStream(
      `${options.url}/v1/completions`,
      { method: 'POST', body, apiKey: options.apiKey, timeoutMs: timeoutMs(options) },
      expected,
    );
    if (stream.status !== 200) throw new CheckFailure(expected, `${stream.status} ${excerpt(stream.errorBody)}`);
    if (!stream.contentType.startsWith('text/event-stream')) {
      throw new CheckFailure(expected, `content-type ${JSON.stringify(stream.contentType)}`);
    }
    const doneAt = stream.events.indexOf('[DONE]');
    if (doneAt === -1) {
      throw new CheckFailure(expected, `${stream.events.length} event(s) and no [DONE]; last: ${excerpt(stream.events.at(-1) ?? '')}`);
    }
    if (doneAt !== stream.events.length - 1) throw new CheckFailure(expected, `events after [DONE]: ${excerpt(stream.events.slice(doneAt + 1).join(' | '))}`);
    const chunks = stream.events.slice(0, doneAt);
    if (chunks.length === 0) throw new CheckFailure(expected, '[DONE] with no chunk before it');
    let text = '';
    let finished = false;
    for (const chunk of chunks) {
      const parsed = parseJson({ status: 200, contentType: stream.contentType, text: chunk }, completionChunkSchema, expected);
      for (const choice of parsed.choices) {
        text += choice.text;
        finished ||= choice.finish_reason !== null;
      }
    }
    if (!finished) throw new CheckFailure(expected, `${chunks.length} chunk(s), none with a finish_reason`);
    const first = stream.firstEventMs === undefined ? '' : `, first after ${Math.round(stream.firstEventMs)} ms`;
    return `${chunks.length} chunks${first}: ${JSON.stringify(excerpt(text, 30))}`;
  },
};

const chatCompletion: Check = {
  name: 'chat completion',
  async run(options) {
    const expected = 'POST /v1/chat/completions to return 200 with an assistant message';
    const body = {
      model: options.chatModel,
      messages: [{ role: 'user', content: 'Say hello in one word.' }],
      max_tokens: MAX_TOKENS,
      temperature: 0,
    };
    const response = await request(
      `${options.url}/v1/chat/completions`,
      { method: 'POST', body, apiKey: options.apiKey, timeoutMs: timeoutMs(options) },
      expected,
    );
    expectStatus(response, 200, expected);
    const parsed = parseJson(response, chatCompletionSchema, expected);
    expectModel(options, options.chatModel, parsed.model, expected);
    const choice = parsed.choices[0];
    return `${parsed.usage.completion_tokens} tokens, ${choice?.finish_reason}: ${JSON.stringify(excerpt(choice?.message.content ?? '', 40))}`;
  },
};

const unknownModel: Check = {
  name: 'unknown model',
  async run(options) {
    const expected = `POST /v1/completions for model "${UNKNOWN_MODEL}" to return 404 with error.code model_not_found`;
    const body = { model: UNKNOWN_MODEL, prompt: 'Hello', max_tokens: 1 };
    const response = await request(
      `${options.url}/v1/completions`,
      { method: 'POST', body, apiKey: options.apiKey, timeoutMs: timeoutMs(options) },
      expected,
    );
    return expectErrorEnvelope(response, 404, 'model_not_found', expected);
  },
};

const authMissingKey: Check = {
  name: 'auth: no key',
  needsApiKey: true,
  async run(options) {
    const expected = 'GET /v1/models without Authorization to return 401 with an error envelope';
    const response = await request(`${options.url}/v1/models`, { apiKey: undefined, timeoutMs: timeoutMs(options) }, expected);
    return expectErrorEnvelope(response, 401, undefined, expected);
  },
};

const authWrongKey: Check = {
  name: 'auth: wrong key',
  needsApiKey: true,
  async run(options) {
    const expected = 'GET /v1/models with a wrong bearer key to return 401 with an error envelope';
    const wrongKey = `${options.apiKey ?? ''}-smoke-wrong`;
    const response = await request(`${options.url}/v1/models`, { apiKey: wrongKey, timeoutMs: timeoutMs(options) }, expected);
    return expectErrorEnvelope(response, 401, undefined, expected);
  },
};

export const CHECKS: readonly Check[] = [
  health,
  models,
  completion,
  streamedCompletion,
  chatCompletion,
  unknownModel,
  authMissingKey,
  authWrongKey,
];
