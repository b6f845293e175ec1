/** @jest-environment ./test/support/onnx-environment.js */
import { ModelRunner, type ForwardResult } from '../../../../service/engine/batch';
import { KvCache } from '../../../../service/engine/kv-cache';
import { loadModel, type LoadedModel } from '../../../../service/engine/model';
import type { PreallocatedCache } from '../../../../service/engine/preallocated-kv/cache';
import { PreallocatedKvRunner, type PreallocatedStep } from '../../../../service/engine/preallocated-kv/runner';
import { tinyModelDir, tinyVariantDir } from '../../../support/models';
import { ids, maxAbsDiff } from '../../../support/logits';

// The preallocated-kv graph (model:make --export preallocated-kv, the same weights as the tiny Concat
// graph) driven by its runner must compute what the Concat graph computes: the same logits step by
// step, through left-padded prefill, rows gathered (joined, dropped, duplicated, reordered) and the
// cache growing block by block. Blocks of 4 slots make every few tokens a growth.

const argmax = (logits: Float32Array): number => logits.reduce((best, value, i) => (value > logits[best]! ? i : best), 0);

describe('preallocated KV cache on the tiny model', () => {
  let concatModel: LoadedModel;
  let preallocatedModel: LoadedModel;
  let concat: ModelRunner;
  let runner: PreallocatedKvRunner;
  const long = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 290, 340, 373];
  const short = [15496, 995, 11, 612];

  beforeAll(async () => {
    concatModel = await loadModel(await tinyModelDir(), { intraOpThreads: 1 });
    preallocatedModel = await loadModel(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' }), { intraOpThreads: 1 });
    concat = new ModelRunner(concatModel);
    runner = new PreallocatedKvRunner(preallocatedModel, { blockTokens: 4 });
  });
  afterAll(async () => {
    await concatModel.release();
    await preallocatedModel.release();
  });

  const expectSameLastLogits = (mine: PreallocatedStep, theirs: ForwardResult, rows: number) => {
    for (let r = 0; r < rows; r++) expect(maxAbsDiff(runner.lastLogits(mine, r), concat.lastLogits(theirs, r))).toBeLessThan(1e-4);
  };

  it('is recognised by its signature as a preallocated-cache graph', () => {
    expect(preallocatedModel).toMatchObject({ kvCache: 'preallocated', kvDtype: 'float32', hasPositionIds: true, usesCacheBranch: false });
    expect(concatModel.kvCache).toBe('concat');
    expect(() => new PreallocatedKvRunner(concatModel)).toThrow(/takes a concat KV cache/);
  });

  it('decodes token by token with the logits of the Concat graph, growing a block at a time', async () => {
    let mine = await runner.forward(runner.emptyCache(1), ids(long.slice(0, 3)), 3);
    let theirs = await concat.forward(KvCache.empty(concat.kvShape, 1), ids(long.slice(0, 3)), 3);
    expect(mine.cache.capacity).toBe(4);
    for (let i = 3; i < long.length; i++) {
      expectSameLastLogits(mine, theirs, 1);
      mine = await runner.forward(mine.cache, ids([long[i]!]), 1);
      theirs = await concat.forward(theirs.cache, ids([long[i]!]), 1);
    }
    expectSameLastLogits(mine, theirs, 1);
    expect(mine.cache.lengths).toEqual([long.length]);
    expect(mine.cache.capacity).toBe(12);
  });

  it('writes a step into the past buffers themselves: the step after needs no copy', async () => {
    const prefilled = await runner.forward(runner.emptyCache(1), ids(long.slice(0, 5)), 5);
    expect(prefilled.cache.capacity).toBe(8);
    const before = prefilled.cache.inputs(0)[0].data as Float32Array;
    const next = await runner.forward(prefilled.cache, ids([long[5]!]), 1);
    const after = next.cache.inputs(0)[0].data as Float32Array;
    expect(after).toBe(before);
    // Slot 5 of head 0, dimension 0 now holds the new token's key, where the prefill left 0.
    expect(after[5]).not.toBe(0);
  });

  it('refuses a second step from a cache that already stepped', async () => {
    const prefilled = await runner.forward(runner.emptyCache(1), ids(short), short.length);
    await runner.forward(prefilled.cache, ids([13]), 1);
    await expect(runner.forward(prefilled.cache, ids([198]), 1)).rejects.toThrow(/already stepped/);
  });

  it('refuses left-padded new tokens after a non-empty past', async () => {
    const prefilled = await runner.forward(runner.emptyCache(1), ids(short), short.length);
    await expect(runner.forward(prefilled.cache, ids([1, 2]), 2, [1])).rejects.toThrow(/empty past/);
  });

  it('a left-padded prefill, then chunks and decode steps, matches the Concat graph row by row', async () => {
    const seq = long.length;
    const input = new BigInt64Array(2 * seq);
    input.set(ids(long), 0);
    input.set(ids(short), 2 * seq - short.length);
    let mine = await runner.forward(runner.emptyCache(2), input, seq, [seq, short.length]);
    let theirs = await concat.forward(KvCache.empty(concat.kvShape, 2), input, seq, [seq, short.length]);
    expect(mine.cache.lengths).toEqual([long.length, short.length]);
    for (let j = 0; j < short.length; j++) {
      const position = seq - short.length + j;
      expect(maxAbsDiff(runner.positionLogits(mine, 1, position), concat.positionLogits(theirs, 1, position))).toBeLessThan(1e-4);
    }
    // A chunk of three tokens for both rows (chunked prefill), then greedy decode steps.
    mine = await runner.forward(mine.cache, ids([11, 13, 198, 13, 11, 198]), 3);
    theirs = await concat.forward(theirs.cache, ids([11, 13, 198, 13, 11, 198]), 3);
    expectSameLastLogits(mine, theirs, 2);
    for (let step = 0; step < 6; step++) {
      const next = [0, 1].map((r) => argmax(concat.lastLogits(theirs, r)));
      expect([0, 1].map((r) => argmax(runner.lastLogits(mine, r)))).toEqual(next);
      mine = await runner.forward(mine.cache, ids(next), 1);
      theirs = await concat.forward(theirs.cache, ids(next), 1);
      expectSameLastLogits(mine, theirs, 2);
    }
  });

  it('rows joined, dropped, duplicated and reordered (join/leave and beam reorder) keep the Concat graph logits', async () => {
    const prefill = async (prompt: readonly number[]) => ({
      mine: await runner.forward(runner.emptyCache(1), ids(prompt), prompt.length),
      theirs: await concat.forward(KvCache.empty(concat.kvShape, 1), ids(prompt), prompt.length),
    });
    const a = await prefill(long);
    const b = await prefill(short);
    // Join: a decoding row and a newly prefilled one in one batch.
    const joined = runner.gatherRows([
      { cache: a.mine.cache, row: 0 },
      { cache: b.mine.cache, row: 0 },
    ]);
    expect(joined.capacity).toBe(12);
    let mine = await runner.forward(joined, ids([13, 13]), 1);
    let theirs = await concat.forward(
      KvCache.gather(concat.kvShape, [
        { cache: a.theirs.cache, row: 0 },
        { cache: b.theirs.cache, row: 0 },
      ]),
      ids([13, 13]),
      1,
    );
    expectSameLastLogits(mine, theirs, 2);
    // Beam reorder: row 1 twice, then row 0; then the longest row leaves.
    const reorder = (from: PreallocatedCache, rows: readonly number[]) => runner.gatherRows(rows.map((row) => ({ cache: from, row })));
    const reorderConcat = (from: KvCache, rows: readonly number[]) => KvCache.gather(concat.kvShape, rows.map((row) => ({ cache: from, row })));
    mine = await runner.forward(reorder(mine.cache, [1, 1, 0]), ids([198, 11, 198]), 1);
    theirs = await concat.forward(reorderConcat(theirs.cache, [1, 1, 0]), ids([198, 11, 198]), 1);
    expectSameLastLogits(mine, theirs, 3);
    const left = reorder(mine.cache, [0, 1]);
    expect(left.lengths).toEqual([short.length + 2, short.length + 2]);
    expect(left.capacity).toBe(8);
    mine = await runner.forward(left, ids([464, 464]), 1);
    theirs = await concat.forward(reorderConcat(theirs.cache, [0, 1]), ids([464, 464]), 1);
    expectSameLastLogits(mine, theirs, 2);
  });
});
