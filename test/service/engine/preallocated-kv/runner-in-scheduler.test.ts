/** @jest-environment ./test/support/onnx-environment.js */
import { ModelRunner } from '../../../../service/engine/batch';
import { EventChannel } from '../../../../service/engine/event-channel';
import { loadModel, type LoadedModel } from '../../../../service/engine/model';
import { createSamplingParams } from '../../../../service/engine/params';
import type { PreallocatedCache } from '../../../../service/engine/preallocated-kv/cache';
import { PreallocatedKvRunner } from '../../../../service/engine/preallocated-kv/runner';
import type { BatchModel } from '../../../../service/engine/scheduler/batch-model';
import { Scheduler } from '../../../../service/engine/scheduler/scheduler';
import { createGpt2Tokenizer } from '../../../../service/engine/tokenizer';
import type { GenerationEvent, SamplingParamsInput } from '../../../../service/engine/types';
import { tinyModelDir, tinyVariantDir } from '../../../support/models';

// The scheduler on the preallocated-kv graph generates exactly what it generates on the Concat
// graph of the same weights, through everything that reshapes the cache: prompts prefilled together
// (left padding), a prompt prefilled in chunks while others decode, rows joining and leaving, and
// beam search reordering and duplicating rows every step. Blocks of 4 slots make the cache grow often.

const params = (input: SamplingParamsInput) => createSamplingParams({ temperature: 0, stopOnEos: false, ...input }, { vocabSize: 50257 });
const prompt = (length: number, seed: number): number[] => Array.from({ length }, (_, i) => (seed * 7919 + i * 104729) % 50000);

/** Every choice's token ids, and a promise that resolves at the request's first delta. */
function submit(scheduler: Scheduler, promptIds: number[], input: SamplingParamsInput) {
  const channel = new EventChannel<GenerationEvent>(() => undefined);
  scheduler.submit({ promptIds, params: params(input) }, channel);
  let started: () => void = () => undefined;
  const firstDelta = new Promise<void>((resolve) => (started = resolve));
  const done = (async () => {
    const choices: number[][] = [];
    for await (const event of channel) {
      if (event.type !== 'delta') continue;
      (choices[event.choice] ??= []).push(...event.tokens.map((t) => t.tokenId));
      started();
    }
    return choices;
  })();
  return { firstDelta, done };
}

/** Runs the same arrivals on a scheduler over `runner`: each request joins on an event of the previous ones. */
async function scenario(runner: BatchModel): Promise<number[][][]> {
  const scheduler = new Scheduler({
    runner,
    maxBatchSize: 8,
    maxQueue: 8,
    contextLength: 1024,
    eosTokenId: 50256,
    tokenizer: createGpt2Tokenizer(),
    prefillChunkTokens: 8,
  });
  // Two prompts of different lengths at once: one left-padded prefill.
  const a = submit(scheduler, prompt(5, 1), { maxTokens: 40 });
  const b = submit(scheduler, prompt(11, 2), { maxTokens: 6 });
  await a.firstDelta;
  // A 30-token prompt with 3 beams joins while they decode: prefilled in chunks of 8.
  const c = submit(scheduler, prompt(30, 3), { maxTokens: 9, numBeams: 3, n: 2 });
  const bTokens = await b.done;
  // b left; one more joins.
  const d = submit(scheduler, prompt(3, 4), { maxTokens: 12 });
  const results = [await a.done, bTokens, await c.done, await d.done];
  await scheduler.close();
  return results;
}

describe('the scheduler on the preallocated KV cache', () => {
  let concatModel: LoadedModel;
  let preallocatedModel: LoadedModel;

  beforeAll(async () => {
    concatModel = await loadModel(await tinyModelDir(), { intraOpThreads: 1 });
    preallocatedModel = await loadModel(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' }), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await concatModel.release();
    await preallocatedModel.release();
  });

  it('generates the Concat graph greedy and beam tokens through left padding, chunked prefill, join/leave and beam reorder', async () => {
    const runner = new PreallocatedKvRunner(preallocatedModel, { blockTokens: 4 });
    const forwards: { pastLengths: readonly number[]; seq: number; padded: boolean; capacityBefore: number; capacityAfter: number }[] = [];
    const gathers: (readonly number[])[] = [];
    const forward = runner.forward.bind(runner);
    jest.spyOn(runner, 'forward').mockImplementation(async (past, ids, seq, newLengths) => {
      const step = await forward(past, ids, seq, newLengths);
      const padded = newLengths?.some((n) => n < seq) ?? false;
      forwards.push({ pastLengths: past.lengths, seq, padded, capacityBefore: past.capacity, capacityAfter: step.cache.capacity });
      return step;
    });
    const gather = runner.gatherRows.bind(runner);
    jest.spyOn(runner, 'gatherRows').mockImplementation((sources) => {
      gathers.push(sources.map((s) => s.row));
      return gather(sources);
    });

    const expected = await scenario(new ModelRunner(concatModel));
    const actual = await scenario(runner);
    expect(actual).toEqual(expected);
    expect(actual.map((choices) => choices.map((ids) => ids.length))).toEqual([[40], [6], [9, 9], [12]]);

    // The run went through what the test is about.
    expect(forwards.some((f) => f.padded && f.pastLengths.every((n) => n === 0))).toBe(true);
    expect(forwards.some((f) => f.seq > 1 && f.pastLengths.some((n) => n > 0))).toBe(true);
    expect(gathers.some((rows) => new Set(rows).size < rows.length)).toBe(true);
    expect(forwards.some((f) => f.capacityBefore > 0 && f.capacityAfter > f.capacityBefore)).toBe(true);
    const caches = forwards.map((f) => f.capacityAfter);
    expect(Math.max(...caches)).toBeLessThanOrEqual(48);
  });

  it('keeps the cache within whole blocks of its longest row', async () => {
    const runner = new PreallocatedKvRunner(preallocatedModel, { blockTokens: 4 });
    const seen: PreallocatedCache[] = [];
    const forward = runner.forward.bind(runner);
    jest.spyOn(runner, 'forward').mockImplementation(async (past, ids, seq, newLengths) => {
      const step = await forward(past, ids, seq, newLengths);
      seen.push(step.cache);
      return step;
    });
    await scenario(runner);
    for (const cache of seen) {
      const longest = Math.max(...cache.lengths);
      expect(cache.capacity).toBeGreaterThanOrEqual(longest);
      expect(cache.capacity).toBeLessThan(longest + 4);
      expect(cache.capacity % 4).toBe(0);
    }
  });
});
