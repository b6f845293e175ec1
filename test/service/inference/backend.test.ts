/**
 * @jest-environment ./test/support/onnx-environment.js
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import type { RequestContext } from '../../../service/backend';
import { createEngine } from '../../../service/engine/engine';
import type { Engine } from '../../../service/engine/types';
import { ApiError } from '../../../service/http/api-error';
import type { BackendResult, InferenceBackend } from '../../../service/inference/api';
import { chatCompletionRequestSchema, completionRequestSchema } from '../../../service/inference/schemas';
import { createInferenceBackend } from '../../../service/inference/backend';
import { eventually } from '../../support/eventually';
import { tinyModelDir } from '../../support/models';

let engine: Engine;
let backend: InferenceBackend;
let registry: Registry;

function context(signal = new AbortController().signal): RequestContext {
  return { requestId: 'test', signal, client: undefined, log: pino({ level: 'silent' }), setHeader: () => undefined, annotate: () => undefined };
}

async function body<TBody, TChunk>(result: BackendResult<TBody, TChunk>): Promise<TBody> {
  if (result.stream) throw new Error('expected a whole body');
  return result.body;
}

async function chunks<TBody, TChunk>(result: BackendResult<TBody, TChunk>): Promise<TChunk[]> {
  if (!result.stream) throw new Error('expected a stream');
  const all: TChunk[] = [];
  for await (const chunk of result.chunks) all.push(chunk);
  return all;
}

const completion = (fields: Record<string, unknown>) => completionRequestSchema.parse({ model: 'gpt2', ...fields });
const chat = (fields: Record<string, unknown>) => chatCompletionRequestSchema.parse({ model: 'gpt2', ...fields });

beforeAll(async () => {
  engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 8, maxQueue: 4 });
  registry = new Registry();
  backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry });
});

afterAll(async () => {
  await backend.close();
});

describe('inference backend: completions', () => {
  it('answers in OpenAI completion shape with usage counting prompt and generated tokens', async () => {
    const result = await body(await backend.createCompletion(completion({ prompt: 'The quick brown fox', max_tokens: 5, temperature: 0 }), context()));
    expect(result.object).toBe('text_completion');
    expect(result.id).toMatch(/^cmpl-/);
    expect(result.model).toBe('gpt2');
    expect(result.choices).toHaveLength(1);
    expect(result.choices[0]?.finish_reason).toBe('length');
    expect(result.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
  });

  it('numbers choices prompt-major for several prompts with n > 1', async () => {
    const result = await body(await backend.createCompletion(completion({ prompt: ['One', 'Two three'], n: 2, max_tokens: 3, seed: 7 }), context()));
    expect(result.choices.map((choice) => choice.index)).toEqual([0, 1, 2, 3]);
    expect(result.usage?.prompt_tokens).toBe(3);
    expect(result.usage?.completion_tokens).toBe(12);
  });

  it('echoes the prompt and reports its logprobs, null for the first token', async () => {
    const prompt = 'Hello world, this';
    const result = await body(await backend.createCompletion(completion({ prompt, max_tokens: 3, temperature: 0, echo: true, logprobs: 2 }), context()));
    const choice = result.choices[0];
    expect(choice?.text.startsWith(prompt)).toBe(true);
    const logprobs = choice?.logprobs;
    expect(logprobs?.tokens).toHaveLength(4 + 3);
    expect(logprobs?.token_logprobs?.[0]).toBeNull();
    expect(logprobs?.token_logprobs?.slice(1).every((value) => typeof value === 'number' && value <= 0)).toBe(true);
    expect(logprobs?.text_offset?.[0]).toBe(0);
    expect(logprobs?.text_offset?.[4]).toBe(prompt.length);
    expect(logprobs?.tokens?.join('')).toBe(choice?.text);
  });

  it('accepts token ids as the prompt and rejects ids outside the vocabulary', async () => {
    const ids = engine.tokenizer.encode('Token ids work');
    const result = await body(await backend.createCompletion(completion({ prompt: ids, max_tokens: 2, echo: true }), context()));
    expect(result.choices[0]?.text.startsWith('Token ids work')).toBe(true);
    await expect(backend.createCompletion(completion({ prompt: [50257], max_tokens: 2 }), context())).rejects.toMatchObject({
      status: 400,
      param: 'prompt',
    });
  });

  it('streams text deltas, then a finish chunk per choice, then usage with empty choices', async () => {
    const request = completion({ prompt: 'Stream me', max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const all = await chunks(await backend.createCompletion(request, context()));
    const whole = await body(await backend.createCompletion(completion({ prompt: 'Stream me', max_tokens: 4, temperature: 0 }), context()));
    const last = all[all.length - 1];
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual(whole.usage);
    const finishes = all.filter((chunk) => chunk.choices.some((choice) => choice.finish_reason !== null));
    expect(finishes).toHaveLength(1);
    const text = all.flatMap((chunk) => chunk.choices.map((choice) => choice.text)).join('');
    expect(text).toBe(whole.choices[0]?.text);
  });

  it('maps engine errors to OpenAI errors: context length, bad parameters, unknown model', async () => {
    const long = completion({ prompt: 'word '.repeat(600), max_tokens: 600 });
    await expect(backend.createCompletion(long, context())).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'prompt' });
    await expect(backend.createCompletion(completion({ prompt: 'x', logit_bias: { '99999': 5 } }), context())).rejects.toMatchObject({
      status: 400,
      param: 'logit_bias',
    });
    await expect(backend.createCompletion(completion({ prompt: 'x', best_of: 3 }), context())).rejects.toBeInstanceOf(ApiError);
    await expect(backend.createCompletion(completion({ prompt: 'x', num_beams: 2, temperature: 1 }), context())).rejects.toMatchObject({ status: 400 });
    await expect(backend.createCompletion({ ...completion({ prompt: 'x' }), model: 'gpt-4' }, context())).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });
});

describe('inference backend: chat', () => {
  it('answers as the assistant, never writing the next speaker turn', async () => {
    const result = await body(await backend.createChatCompletion(chat({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 40, seed: 3 }), context()));
    expect(result.object).toBe('chat.completion');
    expect(result.choices[0]?.message.role).toBe('assistant');
    expect(result.choices[0]?.message.content).not.toContain('\nUser:');
  });

  it('returns chat logprobs with bytes and top alternatives', async () => {
    const request = chat({ messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true });
    const result = await body(await backend.createChatCompletion(request, context()));
    const content = result.choices[0]?.logprobs?.content ?? [];
    expect(content.length).toBeGreaterThan(0);
    for (const entry of content) {
      expect(entry.top_logprobs).toHaveLength(3);
      expect(Buffer.from(entry.bytes ?? []).length).toBeGreaterThan(0);
      // Greedy picks the most likely token, so it is the first alternative.
      expect(entry.top_logprobs[0]?.logprob).toBeCloseTo(entry.logprob, 5);
    }
  });

  it('streams the role first, content deltas, a finish chunk and usage', async () => {
    const request = chat({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, n: 2, seed: 1, stream: true, stream_options: { include_usage: true } });
    const all = await chunks(await backend.createChatCompletion(request, context()));
    expect(all[0]?.choices.map((choice) => choice.delta.role)).toEqual(['assistant', 'assistant']);
    const finished = all.flatMap((chunk) => chunk.choices.filter((choice) => choice.finish_reason !== null).map((choice) => choice.index));
    expect(finished.sort()).toEqual([0, 1]);
    expect(all[all.length - 1]?.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('rejects top_logprobs without logprobs', async () => {
    await expect(backend.createChatCompletion(chat({ messages: [{ role: 'user', content: 'Hi' }], top_logprobs: 2 }), context())).rejects.toMatchObject({
      status: 400,
      param: 'top_logprobs',
    });
  });
});

describe('inference backend: cancellation and metrics', () => {
  it('frees the batch when the client goes away mid-stream and counts finished requests', async () => {
    const controller = new AbortController();
    const result = await backend.createCompletion(completion({ prompt: 'Go on', max_tokens: 500, ignore_eos: true, stream: true }), context(controller.signal));
    if (!result.stream) throw new Error('expected a stream');
    let seen = 0;
    for await (const chunk of result.chunks) {
      void chunk;
      seen += 1;
      if (seen === 3) controller.abort();
      if (seen > 3) break;
    }
    // The aborted row leaves at the engine's next step, however late a loaded machine runs it.
    await eventually(() => engine.stats().running === 0, 'the aborted request leaving the batch');
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/vllm:num_requests_running\{model_name="gpt2"\} 0/);
    expect(metrics).toMatch(/vllm:request_success_total\{model_name="gpt2",finished_reason="length"\} [1-9]/);
    expect(metrics).toMatch(/vllm:time_to_first_token_seconds_count\{model_name="gpt2"\} [1-9]/);
  });

  it('counts forward passes and the bytes they move between host and onnxruntime (on cpu: at least the logits of every step)', async () => {
    const read = async () => {
      const text = await registry.metrics();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
      return {
        passes: value(/^engine_forward_passes_total\{model_name="gpt2"\} (\d+)/m),
        toHost: value(/^engine_host_device_bytes_total\{model_name="gpt2",direction="to_host"\} (\d+)/m),
        toDevice: value(/^engine_host_device_bytes_total\{model_name="gpt2",direction="to_device"\} (\d+)/m),
      };
    };
    const before = await read();
    await backend.createCompletion(completion({ prompt: 'Count me', max_tokens: 5, ignore_eos: true }), context());
    const after = await read();
    expect(after.passes - before.passes).toBeGreaterThanOrEqual(5);
    expect(after.toHost - before.toHost).toBeGreaterThanOrEqual(5 * engine.tokenizer.vocabSize * 4);
    expect(after.toDevice).toBeGreaterThan(before.toDevice);
  });

  it('tokenizes and detokenizes with the served tokenizer', async () => {
    const tokenize = backend.tokenize;
    const detokenize = backend.detokenize;
    if (!tokenize || !detokenize) throw new Error('inference backend must tokenize');
    const tokens = await tokenize({ prompt: 'Hello <|endoftext|>' }, context());
    expect(tokens.tokens).not.toContain(50256);
    expect(tokens.max_model_len).toBe(1024);
    expect((await detokenize({ tokens: tokens.tokens }, context())).prompt).toBe('Hello <|endoftext|>');
  });
});
