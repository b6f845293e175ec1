/** @jest-environment ./test/support/onnx-environment.js */
import { basename, dirname } from 'node:path';
import { createEngine } from '../../../service/engine/engine';
import { EngineClosedError } from '../../../service/engine/errors';
import { createSamplingParams } from '../../../service/engine/params';
import type { Engine, GenerationEvent, SamplingParamsInput, TokenInfo } from '../../../service/engine/types';
import { tinyModelDir } from '../../support/models';

// The engine as the inference backend uses it: a real model folder, the GPT-2 tokenizer, and the
// events of generate() checked against transformers.js and against the request's parameters.

interface Outcome {
  readonly prompt: readonly TokenInfo[] | undefined;
  readonly tokens: TokenInfo[][];
  readonly texts: string[];
  readonly finishes: Extract<GenerationEvent, { type: 'finish' }>[];
}

async function collect(events: AsyncIterable<GenerationEvent>): Promise<Outcome> {
  let prompt: readonly TokenInfo[] | undefined;
  const tokens: TokenInfo[][] = [];
  const texts: string[] = [];
  const finishes: Outcome['finishes'] = [];
  for await (const event of events) {
    if (event.type === 'prompt') prompt = event.tokens;
    else if (event.type === 'delta') {
      tokens[event.choice] = [...(tokens[event.choice] ?? []), ...event.tokens];
      texts[event.choice] = (texts[event.choice] ?? '') + event.text;
    } else finishes.push(event);
  }
  return { prompt, tokens, texts, finishes };
}

describe('engine on the tiny model', () => {
  let dir: string;
  let engine: Engine;

  beforeAll(async () => {
    dir = await tinyModelDir();
    engine = await createEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 8, modelId: 'tiny-gpt2' });
  });
  afterAll(async () => {
    await engine.close();
  });

  const params = (input: SamplingParamsInput) => createSamplingParams(input, { vocabSize: engine.tokenizer.vocabSize });
  const run = (prompt: string, input: SamplingParamsInput) => collect(engine.generate({ promptIds: engine.tokenizer.encode(prompt), params: params(input) }));

  it('describes the model it serves', () => {
    expect(engine.modelId).toBe('tiny-gpt2');
    expect(engine.contextLength).toBe(1024);
    expect(engine.tokenizer.vocabSize).toBe(50257);
  });

  it('generates the same greedy ids as transformers.js text-generation on the same folder', async () => {
    const { env, pipeline } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = dirname(dir);
    const generator = await pipeline('text-generation', basename(dir), { dtype: 'fp32' });
    try {
      for (const prompt of ['Hello world', 'In 1998, the committee decided that']) {
        const inputs = generator.tokenizer(prompt);
        const output = (await generator.model.generate({ ...inputs, max_new_tokens: 16, do_sample: false } as never)) as { tolist(): bigint[][] };
        const expected = output.tolist()[0]!.map(Number).slice(inputs.input_ids.dims[1]);
        const ours = await run(prompt, { maxTokens: 16, temperature: 0 });
        // transformers.js stops at EOS and keeps it; we stop there too and do not emit it as text.
        expect(ours.tokens[0]?.map((t) => t.tokenId) ?? []).toEqual(expected.filter((id) => id !== engine.tokenizer.eosTokenId));
        const [pipelineOutput] = (await generator(prompt, { max_new_tokens: 16, do_sample: false })) as { generated_text: string }[];
        expect(prompt + ours.texts[0]).toBe(pipelineOutput?.generated_text);
      }
    } finally {
      await generator.dispose();
    }
  });

  it('gives n=3 sampled choices, each with its own tokens and finish event', async () => {
    const outcome = await run('Three choices', { n: 3, maxTokens: 12, temperature: 1, seed: 7, stopOnEos: false });
    expect(outcome.finishes.map((f) => [f.choice, f.reason, f.completionTokens]).sort()).toEqual([
      [0, 'length', 12],
      [1, 'length', 12],
      [2, 'length', 12],
    ]);
    expect(outcome.tokens.map((t) => t.length)).toEqual([12, 12, 12]);
    expect(new Set(outcome.texts).size).toBe(3);
  });

  it('cuts the text before a stop string, never emits it, and finishes with reason stop', async () => {
    const free = await run('A stop string test', { maxTokens: 30, temperature: 0, stopOnEos: false });
    const text = free.texts[0]!;
    // A stop string from the middle of the free-running text, crossing token boundaries.
    const stop = text.slice(12, 17);
    const stopped = await run('A stop string test', { maxTokens: 30, temperature: 0, stopOnEos: false, stop: [stop] });
    expect(stopped.texts[0]).toBe(text.slice(0, text.indexOf(stop)));
    expect(stopped.texts[0]).not.toContain(stop);
    expect(stopped.finishes).toEqual([expect.objectContaining({ choice: 0, reason: 'stop' })]);
    expect(stopped.finishes[0]!.completionTokens).toBeLessThan(30);
  });

  it('finishes with reason stop at EOS, counting the EOS token, and with length at max_tokens', async () => {
    const eos = engine.tokenizer.eosTokenId;
    const atEos = await run('Forced end', { maxTokens: 10, logitBias: { [eos]: 100 } });
    expect(atEos.texts.join('')).toBe('');
    expect(atEos.finishes).toEqual([expect.objectContaining({ type: 'finish', choice: 0, reason: 'stop', completionTokens: 1 })]);
    const ignored = await run('Forced end', { maxTokens: 3, logitBias: { [eos]: 100 }, stopOnEos: false });
    expect(ignored.finishes).toEqual([expect.objectContaining({ type: 'finish', choice: 0, reason: 'length', completionTokens: 3 })]);
  });

  it("reports each choice's queue, prefill and decode time on its finish event", async () => {
    const one = await run('Timings', { maxTokens: 1, temperature: 0 });
    // One token: it comes out of the prefill, so the choice spent no time decoding.
    expect(one.finishes[0]?.timings).toEqual({ queueSeconds: expect.any(Number), prefillSeconds: expect.any(Number), decodeSeconds: 0 });
    expect(one.finishes[0]!.timings!.prefillSeconds).toBeGreaterThan(0);
    const several = await run('Timings', { maxTokens: 8, temperature: 0, stopOnEos: false });
    const timings = several.finishes[0]!.timings!;
    expect(timings.queueSeconds).toBeGreaterThanOrEqual(0);
    expect(timings.decodeSeconds).toBeGreaterThan(0);
  });

  it('reports logprobs per generated token and for the prompt when asked', async () => {
    const outcome = await run('Log probabilities', { maxTokens: 5, temperature: 0, logprobs: 3, promptLogprobs: true, stopOnEos: false });
    const promptIds = engine.tokenizer.encode('Log probabilities');
    expect(outcome.prompt?.map((t) => t.tokenId)).toEqual(promptIds);
    expect(outcome.prompt?.[0]?.logprob).toBeNull();
    for (const token of [...(outcome.prompt ?? []).slice(1), ...outcome.tokens[0]!]) {
      expect(token.logprob).toBeLessThanOrEqual(0);
      expect(token.topLogprobs).toHaveLength(3);
      expect(token.topLogprobs![0]!.logprob).toBeGreaterThanOrEqual(token.logprob!);
    }
    // Greedy: every generated token is the most likely one.
    for (const token of outcome.tokens[0]!) expect(token.topLogprobs![0]!.tokenId).toBe(token.tokenId);
    expect(engine.tokenizer.decode(outcome.tokens[0]!.map((t) => t.tokenId))).toBe(outcome.texts[0]);
  });

  it('starts an empty prompt from the end-of-text token', async () => {
    const empty = await collect(engine.generate({ promptIds: [], params: params({ maxTokens: 6, temperature: 0, stopOnEos: false }) }));
    const fromEos = await collect(
      engine.generate({ promptIds: [engine.tokenizer.eosTokenId], params: params({ maxTokens: 6, temperature: 0, stopOnEos: false }) }),
    );
    expect(empty.tokens[0]!.map((t) => t.tokenId)).toEqual(fromEos.tokens[0]!.map((t) => t.tokenId));
    expect(empty.finishes[0]?.completionTokens).toBe(6);
  });
});

describe('engine close', () => {
  it('lets running requests finish, then refuses new ones with EngineClosedError', async () => {
    const engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 2 });
    const params = createSamplingParams({ maxTokens: 20, temperature: 0, stopOnEos: false }, { vocabSize: engine.tokenizer.vocabSize });
    const running = collect(engine.generate({ promptIds: engine.tokenizer.encode('Closing time'), params }));
    const closed = engine.close();
    expect(() => engine.generate({ promptIds: [1], params })).toThrow(EngineClosedError);
    const outcome = await running;
    await closed;
    expect(outcome.finishes).toEqual([expect.objectContaining({ type: 'finish', choice: 0, reason: 'length', completionTokens: 20 })]);
  });
});
