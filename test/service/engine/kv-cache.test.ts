/** @jest-environment ./test/support/onnx-environment.js */
import { ModelRunner } from '../../../service/engine/batch';
import { KvCache } from '../../../service/engine/kv-cache';
import { loadModel, type LoadedModel } from '../../../service/engine/model';
import { tinyModelDir } from '../../support/models';
import { ids, maxAbsDiff } from '../../support/logits';

// The batching primitives the scheduler is built on, checked against the real model: incremental
// decoding with the cache and left-padded batch rows must give the logits of a plain run.

describe('KV cache and batch rows on the tiny model', () => {
  let model: LoadedModel;
  let runner: ModelRunner;
  const long = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 290, 340, 373];
  const short = [15496, 995, 11, 612];

  beforeAll(async () => {
    model = await loadModel(await tinyModelDir(), { intraOpThreads: 1 });
    runner = new ModelRunner(model);
  });
  afterAll(async () => {
    await model.release();
  });

  const prefill = (prompt: readonly number[]) => runner.forward(KvCache.empty(runner.kvShape, 1), ids(prompt), prompt.length);

  it('decoding token by token with the cache gives the logits of a full recompute', async () => {
    const full = await prefill(long);
    let result = await prefill(long.slice(0, 4));
    for (let i = 4; i < long.length; i++) {
      result = await runner.forward(result.cache, ids([long[i]!]), 1);
      const recomputed = runner.positionLogits(full, 0, i);
      expect(maxAbsDiff(runner.lastLogits(result, 0), recomputed)).toBeLessThan(1e-4);
    }
    expect(result.cache.lengths).toEqual([long.length]);
  });

  it('a prompt run in chunks leaves the same cache as one run', async () => {
    const whole = await prefill(long);
    let chunked = await prefill(long.slice(0, 5));
    chunked = await runner.forward(chunked.cache, ids(long.slice(5)), long.length - 5);
    expect(maxAbsDiff(runner.lastLogits(chunked, 0), runner.lastLogits(whole, 0))).toBeLessThan(1e-4);
    const afterWhole = await runner.forward(whole.cache, ids([198]), 1);
    const afterChunks = await runner.forward(chunked.cache, ids([198]), 1);
    expect(maxAbsDiff(runner.lastLogits(afterChunks, 0), runner.lastLogits(afterWhole, 0))).toBeLessThan(1e-4);
  });

  it('a left-padded row of a merged batch gives the logits of the same prompt alone', async () => {
    const longPast = await prefill(long.slice(0, -1));
    const shortPast = await prefill(short.slice(0, -1));
    const batch = KvCache.gather(runner.kvShape, [
      { cache: longPast.cache, row: 0 },
      { cache: shortPast.cache, row: 0 },
    ]);
    expect(batch.pastLength).toBe(long.length - 1);
    expect(batch.lengths).toEqual([long.length - 1, short.length - 1]);
    let together = await runner.forward(batch, ids([long.at(-1)!, short.at(-1)!]), 1);
    let alone = await runner.forward(shortPast.cache, ids([short.at(-1)!]), 1);
    const longAlone = await runner.forward(longPast.cache, ids([long.at(-1)!]), 1);
    expect(maxAbsDiff(runner.lastLogits(together, 1), runner.lastLogits(alone, 0))).toBeLessThan(1e-4);
    expect(maxAbsDiff(runner.lastLogits(together, 0), runner.lastLogits(longAlone, 0))).toBeLessThan(1e-4);
    // A second step: the padded row keeps matching as both rows grow.
    together = await runner.forward(together.cache, ids([11, 13]), 1);
    alone = await runner.forward(alone.cache, ids([13]), 1);
    expect(maxAbsDiff(runner.lastLogits(together, 1), runner.lastLogits(alone, 0))).toBeLessThan(1e-4);
  });

  it('prompts prefilled together, left-padded, give the logits and cache of each prompt alone', async () => {
    const seq = long.length;
    const input = new BigInt64Array(2 * seq);
    input.set(ids(long), 0);
    input.set(ids(short), 2 * seq - short.length);
    const together = await runner.forward(KvCache.empty(runner.kvShape, 2), input, seq, [seq, short.length]);
    expect(together.cache.lengths).toEqual([long.length, short.length]);
    const shortAlone = await prefill(short);
    for (let j = 0; j < short.length; j++) {
      const padded = runner.positionLogits(together, 1, seq - short.length + j);
      expect(maxAbsDiff(padded, runner.positionLogits(shortAlone, 0, j))).toBeLessThan(1e-4);
    }
    const next = await runner.forward(together.cache, ids([13, 13]), 1);
    const nextAlone = await runner.forward(shortAlone.cache, ids([13]), 1);
    expect(maxAbsDiff(runner.lastLogits(next, 1), runner.lastLogits(nextAlone, 0))).toBeLessThan(1e-4);
  });

  it('refuses left-padded new tokens after a non-empty past', async () => {
    const past = await prefill(short);
    await expect(runner.forward(past.cache, ids([1, 2]), 2, [1])).rejects.toThrow(/empty past/);
  });

  it('removing the longest row drops the columns that were padding in every remaining row', async () => {
    const longPast = await prefill(long);
    const shortPast = await prefill(short);
    const batch = KvCache.gather(runner.kvShape, [
      { cache: longPast.cache, row: 0 },
      { cache: shortPast.cache, row: 0 },
    ]);
    const stepped = await runner.forward(batch, ids([13, 13]), 1);
    const kept = KvCache.gather(runner.kvShape, [{ cache: stepped.cache, row: 1 }]);
    expect(kept.pastLength).toBe(short.length + 1);
    const fromKept = await runner.forward(kept, ids([198]), 1);
    const alone = await runner.forward((await runner.forward(shortPast.cache, ids([13]), 1)).cache, ids([198]), 1);
    expect(maxAbsDiff(runner.lastLogits(fromKept, 0), runner.lastLogits(alone, 0))).toBeLessThan(1e-4);
  });
});
