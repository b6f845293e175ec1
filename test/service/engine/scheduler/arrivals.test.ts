/** @jest-environment ./test/support/onnx-environment.js */
import { ModelRunner } from '../../../../service/engine/batch';
import { loadModel, type LoadedModel } from '../../../../service/engine/model';
import { createSamplingParams } from '../../../../service/engine/params';
import { EventChannel } from '../../../../service/engine/event-channel';
import { Scheduler } from '../../../../service/engine/scheduler/scheduler';
import { createGpt2Tokenizer } from '../../../../service/engine/tokenizer';
import type { GenerationEvent, GenerationRequest } from '../../../../service/engine/types';
import { tinyModelDir } from '../../../support/models';

// A burst of requests reaching an idle engine a moment apart (as several HTTP requests read in one
// I/O poll are) shares one prefill run instead of the first running alone.

function submit(scheduler: Scheduler, request: GenerationRequest): AsyncIterable<GenerationEvent> {
  const channel = new EventChannel<GenerationEvent>(() => undefined);
  scheduler.submit(request, channel);
  return channel;
}

async function drain(events: AsyncIterable<GenerationEvent>): Promise<number> {
  let tokens = 0;
  for await (const event of events) if (event.type === 'delta') tokens += event.tokens.length;
  return tokens;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('scheduler arrivals', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(await tinyModelDir(), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await model.release();
  });

  function scheduler() {
    const runner = new ModelRunner(model);
    const runs: { rows: number; seq: number }[] = [];
    const forward = runner.forward.bind(runner);
    jest.spyOn(runner, 'forward').mockImplementation((past, ids, seq, lengths) => {
      runs.push({ rows: ids.length / seq, seq });
      return forward(past, ids, seq, lengths);
    });
    // A gap far above an event-loop turn even on a loaded CI machine (the 1 ms default is for serving):
    // a process that waits for a core can miss 100 ms, and the gap's timer runs on the loop's clock.
    const instance = new Scheduler({
      runner,
      maxBatchSize: 4,
      maxQueue: 4,
      contextLength: 1024,
      eosTokenId: model.config.eosTokenId,
      tokenizer: createGpt2Tokenizer(),
      arrivalWait: { gapMs: 500, maxMs: 5_000 },
    });
    return { instance, runs };
  }
  const params = createSamplingParams({ maxTokens: 3, temperature: 0, stopOnEos: false }, { vocabSize: 50257 });

  it('prefills requests that arrive on consecutive event-loop turns together', async () => {
    const { instance, runs } = scheduler();
    const first = drain(submit(instance, { promptIds: [464, 2068, 7586], params }));
    await nextTurn();
    const second = drain(submit(instance, { promptIds: [15496, 11], params }));
    await nextTurn();
    const third = drain(submit(instance, { promptIds: [40, 1101, 257, 1332, 13], params }));
    expect(await Promise.all([first, second, third])).toEqual([3, 3, 3]);
    // One left-padded prefill of all three prompts; every later run is a decode step.
    expect(runs[0]).toEqual({ rows: 3, seq: 5 });
    expect(runs.slice(1).every((run) => run.seq === 1)).toBe(true);
    await instance.close();
  });

  it('prefills a burst larger than the batch as one full batch, the rest when slots free up', async () => {
    const { instance, runs } = scheduler();
    const prompts = [[1], [2], [3], [4], [5, 6]];
    const outputs = await Promise.all(prompts.map((promptIds) => drain(submit(instance, { promptIds, params }))));
    expect(outputs).toEqual([3, 3, 3, 3, 3]);
    expect(runs[0]).toEqual({ rows: 4, seq: 1 });
    // The fifth (two tokens) is prefilled alone once rows are free.
    expect(runs.filter((run) => run.seq === 2)).toEqual([{ rows: 1, seq: 2 }]);
    await instance.close();
  });
});
