/** @jest-environment ./test/support/onnx-environment.js */
import { EventChannel } from '../../../../service/engine/event-channel';
import { loadModel, type LoadedModel } from '../../../../service/engine/model';
import { createSamplingParams } from '../../../../service/engine/params';
import { Scheduler, type SchedulerOptions } from '../../../../service/engine/scheduler/scheduler';
import { createGpt2Tokenizer } from '../../../../service/engine/tokenizer';
import type { GenerationEvent, GenerationRequest, SamplingParamsInput } from '../../../../service/engine/types';
import { tinyModelDir } from '../../../support/models';
import { recordingRunner } from '../../../support/recording-runner';

// The prefill policy: a long prompt arriving while other rows decode is prefilled in chunks between
// their decode steps (they slow down instead of stopping); a burst reaching an idle engine is
// prefilled first and decodes as one batch; chunking never changes what is generated.

interface Started {
  readonly events: AsyncIterable<GenerationEvent>;
  cancel(): void;
}

function start(scheduler: Scheduler, request: GenerationRequest): Started {
  let cancel = (): void => undefined;
  const channel = new EventChannel<GenerationEvent>(() => cancel());
  cancel = scheduler.submit(request, channel).cancel;
  return { events: channel, cancel };
}

async function tokens(events: AsyncIterable<GenerationEvent>): Promise<number[]> {
  const ids: number[] = [];
  for await (const event of events) if (event.type === 'delta') ids.push(...event.tokens.map((t) => t.tokenId));
  return ids;
}

/** Resolves once the first delta arrived (the request is decoding), with a promise of all its tokens. */
async function decoding({ events, cancel }: Started): Promise<{ cancel(): void; all: Promise<number[]> }> {
  const iterator = events[Symbol.asyncIterator]();
  const ids: number[] = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.type !== 'delta') continue;
    ids.push(...next.value.tokens.map((t) => t.tokenId));
    const all = (async () => {
      for (let more = await iterator.next(); !more.done; more = await iterator.next()) if (more.value.type === 'delta') ids.push(...more.value.tokens.map((t) => t.tokenId));
      return ids;
    })();
    return { cancel, all };
  }
  throw new Error('the request ended before it generated anything');
}

const params = (input: SamplingParamsInput) => createSamplingParams({ temperature: 0, stopOnEos: false, ...input }, { vocabSize: 50257 });
/** A prompt of `length` varied token ids. */
const prompt = (length: number, seed = 1): number[] => Array.from({ length }, (_, i) => (seed * 7919 + i * 104729) % 50000);

describe('chunked prefill', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(await tinyModelDir(), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await model.release();
  });

  function scheduler(options: Partial<SchedulerOptions> = {}) {
    const { runner, passes } = recordingRunner(model);
    const instance = new Scheduler({ runner, maxBatchSize: 8, maxQueue: 8, contextLength: 1024, eosTokenId: 50256, tokenizer: createGpt2Tokenizer(), ...options });
    return { instance, passes };
  }

  it('prefills a long prompt in chunks of PREFILL_CHUNK_TOKENS, one after each decode step of the running rows', async () => {
    const { instance, passes } = scheduler({ prefillChunkTokens: 16 });
    const running = await decoding(start(instance, { promptIds: prompt(5), params: params({ maxTokens: 200 }) }));
    const from = passes.length;
    const long = tokens(start(instance, { promptIds: prompt(100, 2), params: params({ maxTokens: 2 }) }).events);
    await long;
    const during = passes.slice(from);
    const prefills = during.filter((pass) => pass.kind === 'prefill');
    // 100 tokens in chunks of at most 16: 7 chunks, each on the growing past of the prompt alone.
    expect(prefills.map((pass) => pass.seq)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    expect(prefills.map((pass) => pass.pastLength)).toEqual([0, 16, 32, 48, 64, 80, 96]);
    // Never two prefill chunks in a row: the running request gets a decode step between any two.
    during.forEach((pass, i) => {
      if (pass.kind === 'prefill' && i > 0) expect(during[i - 1]!.kind).toBe('decode');
    });
    running.cancel();
    await running.all;
    await instance.close();
  });

  it('with PREFILL_CHUNK_TOKENS=0 prefills a new prompt whole before the running rows step again', async () => {
    const { instance, passes } = scheduler({ prefillChunkTokens: 0, prefillTokens: 32 });
    const running = await decoding(start(instance, { promptIds: prompt(5), params: params({ maxTokens: 200 }) }));
    const from = passes.length;
    await tokens(start(instance, { promptIds: prompt(100, 2), params: params({ maxTokens: 2 }) }).events);
    const during = passes.slice(from);
    const first = during.findIndex((pass) => pass.kind === 'prefill');
    // Four runs of at most 32 tokens, back to back.
    expect(during.slice(first, first + 5).map((pass) => [pass.kind, pass.seq])).toEqual([
      ['prefill', 32],
      ['prefill', 32],
      ['prefill', 32],
      ['prefill', 4],
      ['decode', 1],
    ]);
    running.cancel();
    await running.all;
    await instance.close();
  });

  it('prefills a burst reaching an idle engine before its first decode step, so it decodes as one batch', async () => {
    const { instance, passes } = scheduler({ prefillChunkTokens: 16, prefillTokens: 32 });
    const outputs = await Promise.all([prompt(40, 1), prompt(50, 2), prompt(3, 3)].map((promptIds) => tokens(start(instance, { promptIds, params: params({ maxTokens: 4 }) }).events)));
    expect(outputs.map((ids) => ids.length)).toEqual([4, 4, 4]);
    const firstDecode = passes.findIndex((pass) => pass.kind === 'decode');
    // 40 and 50 tokens run alone in 32-token runs (2 each), the 3-token prompt in one: 5 prefills first.
    expect(passes.slice(0, firstDecode).map((pass) => pass.kind)).toEqual(['prefill', 'prefill', 'prefill', 'prefill', 'prefill']);
    expect(passes.slice(firstDecode).every((pass) => pass.kind === 'decode' && pass.rows === 3)).toBe(true);
    await instance.close();
  });

  it('stops prefilling a prompt whose request is cancelled between chunks', async () => {
    const { instance, passes } = scheduler({ prefillChunkTokens: 8 });
    const running = await decoding(start(instance, { promptIds: prompt(5), params: params({ maxTokens: 200 }) }));
    const from = passes.length;
    const long = start(instance, { promptIds: prompt(200, 2), params: params({ maxTokens: 2 }) });
    const iterator = long.events[Symbol.asyncIterator]();
    const ended = iterator.next();
    // Wait until two of its 25 chunks ran, then cancel.
    while (passes.slice(from).filter((pass) => pass.kind === 'prefill').length < 2) await new Promise((resolve) => setImmediate(resolve));
    long.cancel();
    expect(await ended).toEqual({ value: undefined, done: true });
    const chunks = passes.slice(from).filter((pass) => pass.kind === 'prefill').length;
    expect(chunks).toBeLessThan(5);
    expect(instance.stats()).toMatchObject({ running: 1, waiting: 0 });
    running.cancel();
    await running.all;
    await instance.close();
  });

  it('generates the same greedy tokens with chunked and whole prefill, alone and beside decoding rows', async () => {
    const prompts = [prompt(70, 1), prompt(9, 2), prompt(33, 3), prompt(120, 4)];
    const run = async (options: Partial<SchedulerOptions>, together: boolean): Promise<number[][]> => {
      const { instance } = scheduler({ prefillTokens: 32, ...options });
      const request = (promptIds: number[]) => start(instance, { promptIds, params: params({ maxTokens: 12 }) });
      const outputs: Promise<number[]>[] = [];
      for (const promptIds of prompts) {
        // Together: each prompt arrives once the previous ones decode, so its prefill is interleaved with them.
        if (together) outputs.push((await decoding(request(promptIds))).all);
        else outputs.push(Promise.resolve(await tokens(request(promptIds).events)));
      }
      const results = await Promise.all(outputs);
      await instance.close();
      return results;
    };
    const whole = await run({ prefillChunkTokens: 0 }, false);
    expect(whole.map((ids) => ids.length)).toEqual([12, 12, 12, 12]);
    expect(await run({ prefillChunkTokens: 8 }, false)).toEqual(whole);
    expect(await run({ prefillChunkTokens: 8 }, true)).toEqual(whole);
    expect(await run({ prefillChunkTokens: 0 }, true)).toEqual(whole);
  });
});
