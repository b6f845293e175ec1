/** @jest-environment ./test/support/onnx-environment.js */
import { ModelRunner } from '../../../service/engine/batch';
import { BeamSearch } from '../../../service/engine/beam-search';
import { createEngine } from '../../../service/engine/engine';
import { KvCache } from '../../../service/engine/kv-cache';
import { loadModel, type LoadedModel } from '../../../service/engine/model';
import { createSamplingParams } from '../../../service/engine/params';
import { logSoftmax } from '../../../service/engine/sampling';
import type { Engine, GenerationEvent, SamplingParamsInput } from '../../../service/engine/types';
import { tinyModelDir } from '../../support/models';

/** Log-probabilities of a 5-token vocabulary from probabilities. */
const row = (...probabilities: number[]): Float32Array => Float32Array.from(probabilities, Math.log);

describe('BeamSearch (pure)', () => {
  it('keeps the numBeams best continuations across beams and reports their parents', () => {
    const search = new BeamSearch({ numBeams: 2, lengthPenalty: 1, maxTokens: 5, eosTokenId: undefined });
    const first = search.step([row(0.5, 0.3, 0.1, 0.05, 0.05)]);
    expect(first.tokens).toEqual([0, 1]);
    expect(first.parents).toEqual([0, 0]);
    // Beam 1 (p=0.3) has a near-certain continuation; beam 0 (p=0.5) a spread-out one.
    const second = search.step([row(0.2, 0.2, 0.2, 0.2, 0.2), row(0.05, 0.05, 0.9, 0, 0)]);
    expect(second.parents).toEqual([1, 0]);
    expect(second.tokens).toEqual([2, 0]);
  });

  it('finishes a hypothesis on EOS, scores it sum/length^lengthPenalty and stops when no running beam can beat it', () => {
    const eos = 4;
    const search = new BeamSearch({ numBeams: 1, lengthPenalty: 1, maxTokens: 10, eosTokenId: eos });
    search.step([row(0.6, 0.1, 0.1, 0.1, 0.1)]);
    expect(search.done).toBe(false);
    // EOS is the best candidate: the hypothesis [0] is kept; token 1 continues but can only get worse.
    search.step([row(0.05, 0.1, 0.05, 0.1, 0.7)]);
    expect(search.done).toBe(true);
    const [best] = search.best(1);
    expect(best?.tokens).toEqual([0]);
    expect(best?.endedOnEos).toBe(true);
    expect(best?.score).toBeCloseTo((Math.log(0.6) + Math.log(0.7)) / 1, 5);
  });

  it('with a length penalty above 1 prefers the longer hypothesis that a plain sum would rank lower', () => {
    const run = (lengthPenalty: number): readonly number[] => {
      const search = new BeamSearch({ numBeams: 2, lengthPenalty, maxTokens: 3, eosTokenId: 4 });
      search.step([row(0.5, 0.4, 0.05, 0.025, 0.025)]);
      // Beam [0] ends now (EOS likely); beam [1] goes on with confident tokens.
      search.step([row(0.1, 0.1, 0.05, 0.05, 0.7), row(0.05, 0.05, 0.85, 0.025, 0.025)]);
      while (!search.done) search.step(Array.from({ length: search.width }, () => row(0.02, 0.02, 0.9, 0.03, 0.03)));
      return search.best(1)[0]!.tokens;
    };
    expect(run(0)).toEqual([0]);
    expect(run(3)).toEqual([1, 2, 2]);
  });

  it('ends every beam at maxTokens and returns hypotheses best first', () => {
    const search = new BeamSearch({ numBeams: 3, lengthPenalty: 1, maxTokens: 2, eosTokenId: undefined });
    search.step([row(0.4, 0.3, 0.2, 0.05, 0.05)]);
    search.step([row(0.9, 0.05, 0.02, 0.02, 0.01), row(0.5, 0.5, 0, 0, 0), row(0.9, 0.1, 0, 0, 0)]);
    expect(search.done).toBe(true);
    const best = search.best(3);
    expect(best).toHaveLength(3);
    expect(best.map((h) => h.score)).toEqual([...best.map((h) => h.score)].sort((x, y) => y - x));
    expect(best.every((h) => h.tokens.length === 2 && !h.endedOnEos)).toBe(true);
  });
});

describe('beam search on the tiny model', () => {
  let dir: string;
  let engine: Engine;
  let model: LoadedModel;

  beforeAll(async () => {
    dir = await tinyModelDir();
    engine = await createEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 8 });
    model = await loadModel(dir, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await engine.close();
    await model.release();
  });

  const params = (input: SamplingParamsInput) => createSamplingParams(input, { vocabSize: engine.tokenizer.vocabSize });

  async function collect(promptIds: number[], input: SamplingParamsInput): Promise<GenerationEvent[]> {
    const events: GenerationEvent[] = [];
    for await (const event of engine.generate({ promptIds, params: params(input) })) events.push(event);
    return events;
  }

  it('with one beam follows exactly the greedy path of the engine', async () => {
    const prompt = engine.tokenizer.encode('Beam search with a single beam');
    const greedy = (await collect(prompt, { maxTokens: 12, temperature: 0, stopOnEos: false }))
      .flatMap((e) => (e.type === 'delta' ? e.tokens.map((t) => t.tokenId) : []));

    const runner = new ModelRunner(model);
    const search = new BeamSearch({ numBeams: 1, lengthPenalty: 1, maxTokens: 12, eosTokenId: undefined });
    let result = await runner.forward(KvCache.empty(runner.kvShape, 1), BigInt64Array.from(prompt, BigInt), prompt.length);
    for (;;) {
      const step = search.step([logSoftmax(runner.lastLogits(result, 0))]);
      if (search.done) break;
      result = await runner.forward(result.cache, BigInt64Array.from(step.tokens, BigInt), 1);
    }
    expect(search.best(1)[0]?.tokens).toEqual(greedy);
  });

  it('with 4 beams returns n choices in one delta each, ordered by length-normalised score', async () => {
    const events = await collect(engine.tokenizer.encode('The beams'), { maxTokens: 8, numBeams: 4, n: 3, logprobs: 0, stopOnEos: false });
    const deltas = events.filter((e) => e.type === 'delta');
    expect(deltas.map((d) => d.choice)).toEqual([0, 1, 2]);
    const scores = deltas.map((d) => d.tokens.reduce((sum, t) => sum + (t.logprob ?? 0), 0) / d.tokens.length);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(new Set(deltas.map((d) => d.text)).size).toBe(3);
    expect(events.filter((e) => e.type === 'finish').map((e) => e.type === 'finish' && e.reason)).toEqual(['length', 'length', 'length']);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('applies logit_bias to every beam: a banned token never appears', async () => {
    const prompt = engine.tokenizer.encode('The beams');
    const free = await collect(prompt, { maxTokens: 6, numBeams: 3, stopOnEos: false });
    const banned = free.flatMap((e) => (e.type === 'delta' ? e.tokens.map((t) => t.tokenId) : []));
    const biased = await collect(prompt, {
      maxTokens: 6,
      numBeams: 3,
      stopOnEos: false,
      logitBias: Object.fromEntries(banned.map((id) => [id, -100])),
    });
    const ids = biased.flatMap((e) => (e.type === 'delta' ? e.tokens.map((t) => t.tokenId) : []));
    expect(ids).toHaveLength(6);
    expect(ids.filter((id) => banned.includes(id))).toEqual([]);
  });
});
