/** @jest-environment ./test/support/onnx-environment.js */
import { createEngine } from '../../../../service/engine/engine';
import { ContextLengthExceededError, EngineOverloadedError } from '../../../../service/engine/errors';
import { createSamplingParams } from '../../../../service/engine/params';
import type { Engine, GenerationEvent, SamplingParamsInput } from '../../../../service/engine/types';
import { eventually } from '../../../support/eventually';
import { tinyModelDir } from '../../../support/models';

// Continuous batching as callers see it: requests joining and leaving a running batch, bounded
// capacity, cancellation, and outputs that do not depend on the batch's other rows.

interface Outcome {
  readonly ids: number[][];
  readonly texts: string[];
  readonly finishes: Extract<GenerationEvent, { type: 'finish' }>[];
}

async function collect(events: AsyncIterable<GenerationEvent>): Promise<Outcome> {
  const outcome: Outcome = { ids: [], texts: [], finishes: [] };
  for await (const event of events) {
    if (event.type === 'delta') {
      outcome.ids[event.choice] = [...(outcome.ids[event.choice] ?? []), ...event.tokens.map((t) => t.tokenId)];
      outcome.texts[event.choice] = (outcome.texts[event.choice] ?? '') + event.text;
    } else if (event.type === 'finish') {
      outcome.finishes.push(event);
    }
  }
  return outcome;
}

describe('scheduler (continuous batching on the tiny model)', () => {
  let engine: Engine;
  const prompts = [
    'A',
    'The quick brown fox jumps over the lazy dog',
    'Once upon a time, in a kingdom by the sea, there lived a',
    'Hello, world',
  ];

  beforeAll(async () => {
    // A small prefill budget so that concurrent prompts share left-padded prefill runs and long ones run in chunks.
    engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 4, maxQueue: 2, prefillTokens: 32 });
  });
  afterAll(async () => {
    await engine.close();
  });

  const params = (input: SamplingParamsInput) => createSamplingParams(input, { vocabSize: engine.tokenizer.vocabSize });
  /** Cancelled rows leave at the scheduler's next step, which a loaded machine may run late: wait for it. */
  const idle = (): Promise<void> => eventually(() => engine.stats().running + engine.stats().waiting === 0, 'the engine idle');
  const run = (prompt: string, input: SamplingParamsInput, signal?: AbortSignal) =>
    engine.generate({ promptIds: engine.tokenizer.encode(prompt), params: params(input), ...(signal ? { signal } : {}) });

  it('gives each request the same greedy tokens alone as inside a batch of different-length prompts', async () => {
    const input = { maxTokens: 24, temperature: 0, stopOnEos: false };
    const alone: number[][] = [];
    for (const prompt of prompts) alone.push((await collect(run(prompt, input))).ids[0]!);
    // Staggered lengths: requests finish at different steps, so rows leave while others continue.
    const together = await Promise.all(prompts.map((prompt, i) => collect(run(prompt, { ...input, maxTokens: 24 - 4 * i }))));
    together.forEach((outcome, i) => expect(outcome.ids[0]).toEqual(alone[i]!.slice(0, 24 - 4 * i)));
  });

  it('reports the same prompt logprobs for a prompt prefilled alone, beside others, or in chunks', async () => {
    const promptLogprobs = async (prompt: string, neighbours: string[] = []): Promise<number[]> => {
      const input = { maxTokens: 1, logprobs: 1, promptLogprobs: true };
      const [outcome] = await Promise.all([prompt, ...neighbours].map((p) => collectPrompt(run(p, input))));
      return outcome!.slice(1).map((t) => t.logprob!);
    };
    const collectPrompt = async (events: AsyncIterable<GenerationEvent>) => {
      let tokens: readonly { logprob?: number | null }[] = [];
      for await (const event of events) if (event.type === 'prompt') tokens = event.tokens;
      return tokens;
    };
    const expectClose = (actual: number[], expected: number[]) => {
      expect(actual).toHaveLength(expected.length);
      actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 4));
    };
    const alone = await promptLogprobs(prompts[3]!);
    expectClose(await promptLogprobs(prompts[3]!, [prompts[1]!]), alone);
    // 60+ tokens with a 32-token budget: three chunks; its prefix must score like the short prompt.
    const long = `${prompts[3]!} ${'and the story goes on '.repeat(14)}`;
    expect(engine.tokenizer.encode(long).length).toBeGreaterThan(64);
    expectClose((await promptLogprobs(long)).slice(0, alone.length), alone);
  });

  it('gives a seeded sampled request the same output every time, whatever its batch neighbours', async () => {
    const seeded = { maxTokens: 20, temperature: 1, topP: 0.95, seed: 1234, stopOnEos: false };
    const first = await collect(run('Seeded sampling', seeded));
    const [second] = await Promise.all([
      collect(run('Seeded sampling', seeded)),
      collect(run(prompts[1]!, { maxTokens: 30, temperature: 1, stopOnEos: false })),
      collect(run(prompts[2]!, { maxTokens: 10, temperature: 1, stopOnEos: false })),
    ]);
    expect(second!.ids).toEqual(first.ids);
    const otherSeed = await collect(run('Seeded sampling', { ...seeded, seed: 4321 }));
    expect(otherSeed.ids).not.toEqual(first.ids);
  });

  it('lets a request join a batch that is already decoding', async () => {
    const long = run(prompts[2]!, { maxTokens: 40, temperature: 0, stopOnEos: false });
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();
    expect(engine.stats().running).toBe(1);
    const joined = await collect(run(prompts[3]!, { maxTokens: 6, temperature: 0, stopOnEos: false }));
    const alone = await collect(run(prompts[3]!, { maxTokens: 6, temperature: 0, stopOnEos: false }));
    expect(joined.ids).toEqual(alone.ids);
    await iterator.return?.();
  });

  it('frees the slots of a request whose signal is aborted, and of one whose consumer stops reading', async () => {
    const controller = new AbortController();
    const aborted = collect(run(prompts[1]!, { maxTokens: 500, temperature: 0, stopOnEos: false }, controller.signal));
    let stopReading!: () => void;
    const readerMayStop = new Promise<void>((resolve) => (stopReading = resolve));
    let readerStarted!: () => void;
    const started = new Promise<void>((resolve) => (readerStarted = resolve));
    const broken = (async () => {
      let deltas = 0;
      for await (const event of run(prompts[2]!, { maxTokens: 500, temperature: 0, stopOnEos: false })) {
        if (event.type !== 'delta') continue;
        deltas++;
        readerStarted();
        await readerMayStop;
        break;
      }
      return deltas;
    })();
    await started;
    expect(engine.stats().running).toBe(2);
    controller.abort();
    stopReading();
    const outcome = await aborted;
    expect(outcome.finishes).toEqual([]);
    expect(await broken).toBe(1);
    await idle();
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('queues requests beyond the batch and refuses synchronously beyond batch + queue', async () => {
    await idle();
    const long = { maxTokens: 30, temperature: 0, stopOnEos: false };
    const controller = new AbortController();
    // n=2 each: two requests fill the 4 rows, two more fill the queue of 2.
    const accepted = Array.from({ length: 4 }, () => run('Capacity', { ...long, n: 2 }, controller.signal));
    expect(engine.stats()).toMatchObject({ running: 2, waiting: 2 });
    let refused: unknown;
    try {
      run('One too many', long);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(EngineOverloadedError);
    expect((refused as EngineOverloadedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    controller.abort();
    await Promise.all(accepted.map(collect));
    await idle();
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('refuses synchronously a prompt + max_tokens beyond the context, naming both counts', () => {
    const promptIds = new Array<number>(1000).fill(464);
    let refused: unknown;
    try {
      engine.generate({ promptIds, params: params({ maxTokens: 25 }) });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ContextLengthExceededError);
    expect(refused).toMatchObject({ promptTokens: 1000, maxTokens: 25, contextLength: 1024 });
    expect((refused as Error).message).toContain('1000 in the prompt, 25 for the completion');
  });
});
