/** @jest-environment ./test/support/onnx-environment.js */
import { createEngine } from '../../../../service/engine/engine';
import {
  ContextLengthExceededError,
  EngineClosedError,
  EngineOverloadedError,
  EngineUnavailableError,
  InvalidParameterError,
  ModelLoadError,
} from '../../../../service/engine/errors';
import { createSamplingParams } from '../../../../service/engine/params';
import type { Engine, GenerationEvent, SamplingParamsInput } from '../../../../service/engine/types';
import { createWorkerEngine, type WorkerEngineOptions } from '../../../../service/engine/worker/client';
import { tinyModelDir } from '../../../support/models';

// The engine in its worker process, as the service uses it: the same outputs as in-process, and
// cancellation, overload, typed errors, draining and worker failures across the process boundary.

interface Outcome {
  readonly ids: number[][];
  readonly finishes: Extract<GenerationEvent, { type: 'finish' }>[];
}

async function collect(events: AsyncIterable<GenerationEvent>): Promise<Outcome> {
  const outcome: Outcome = { ids: [], finishes: [] };
  for await (const event of events) {
    if (event.type === 'delta') outcome.ids[event.choice] = [...(outcome.ids[event.choice] ?? []), ...event.tokens.map((t) => t.tokenId)];
    else if (event.type === 'finish') outcome.finishes.push(event);
  }
  return outcome;
}

const params = (input: SamplingParamsInput) => createSamplingParams(input, { vocabSize: 50257 });
const prompts = ['A', 'The quick brown fox jumps over the lazy dog', 'Once upon a time, in a kingdom by the sea, there lived a', 'Hello, world'];

/** Waits until `condition` holds, checking on each event-loop turn (the worker's reports arrive as messages). */
async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves once the stream produced its first delta (the request is running in the worker). */
async function firstDelta(events: AsyncIterable<GenerationEvent>): Promise<{ rest: Promise<unknown> }> {
  const iterator = events[Symbol.asyncIterator]();
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.type !== 'delta') continue;
    const rest = (async () => {
      for (let more = await iterator.next(); !more.done; more = await iterator.next()) void more;
    })();
    rest.catch(() => undefined);
    return { rest };
  }
  throw new Error('the stream ended before any delta');
}

describe('worker engine', () => {
  let dir: string;
  let worker: Engine & { readonly workerPid: number | undefined };
  let local: Engine;
  const options = (extra: Partial<WorkerEngineOptions> = {}): WorkerEngineOptions => ({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 4, maxQueue: 2, logLevel: 'warn', ...extra });

  beforeAll(async () => {
    dir = await tinyModelDir();
    [worker, local] = await Promise.all([createWorkerEngine(options()), createEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 4, maxQueue: 2 })]);
  });
  afterAll(async () => {
    await Promise.all([worker.close(), local.close()]);
  });

  const run = (engine: Engine, prompt: string, input: SamplingParamsInput, signal?: AbortSignal) =>
    engine.generate({ promptIds: engine.tokenizer.encode(prompt), params: params(input), ...(signal ? { signal } : {}) });

  it('describes the model from the worker and tokenizes on the main thread', () => {
    expect(worker.contextLength).toBe(1024);
    expect(worker.tokenizer.encode('Hello, world')).toEqual(local.tokenizer.encode('Hello, world'));
    expect(worker.isReady()).toBe(true);
  });

  it('gives the same greedy tokens as the in-process engine, alone and batched, and the same seeded samples', async () => {
    const greedy = { maxTokens: 20, temperature: 0, stopOnEos: false };
    for (const prompt of prompts) expect((await collect(run(worker, prompt, greedy))).ids).toEqual((await collect(run(local, prompt, greedy))).ids);
    const batched = await Promise.all(prompts.map((prompt) => collect(run(worker, prompt, greedy))));
    const alone: number[][][] = [];
    for (const prompt of prompts) alone.push((await collect(run(local, prompt, greedy))).ids);
    expect(batched.map((outcome) => outcome.ids)).toEqual(alone);
    const seeded = { maxTokens: 12, temperature: 1, seed: 99, n: 2, stopOnEos: false };
    expect((await collect(run(worker, 'Seeded', seeded))).ids).toEqual((await collect(run(local, 'Seeded', seeded))).ids);
  });

  it('carries finish events with their phase timings across the boundary', async () => {
    const outcome = await collect(run(worker, 'Timed', { maxTokens: 5, temperature: 0, stopOnEos: false }));
    expect(outcome.finishes).toEqual([
      expect.objectContaining({ reason: 'length', completionTokens: 5, timings: { queueSeconds: expect.any(Number), prefillSeconds: expect.any(Number), decodeSeconds: expect.any(Number) } }),
    ]);
  });

  it('refuses synchronously with the same typed errors as in-process', () => {
    const refusal = (call: () => unknown): unknown => {
      try {
        call();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const tooLong = refusal(() => worker.generate({ promptIds: new Array<number>(1000).fill(464), params: params({ maxTokens: 25 }) }));
    expect(tooLong).toBeInstanceOf(ContextLengthExceededError);
    expect(tooLong).toMatchObject({ promptTokens: 1000, maxTokens: 25, contextLength: 1024 });
    expect(refusal(() => run(worker, 'x', { n: 5 }))).toBeInstanceOf(InvalidParameterError);
    expect(refusal(() => run(worker, 'x', { n: 5 }))).toMatchObject({ param: 'n' });
  });

  it('queues beyond the batch, refuses beyond batch + queue with a retry-after, and frees everything when cancelled', async () => {
    const long = { maxTokens: 300, temperature: 0, stopOnEos: false };
    const controller = new AbortController();
    // n=2 each: two requests fill the 4 rows, two more fill the queue of 2.
    const accepted = Array.from({ length: 4 }, () => collect(run(worker, 'Capacity', { ...long, n: 2 }, controller.signal)));
    expect(worker.stats()).toMatchObject({ running: 2, waiting: 2 });
    let refused: unknown;
    try {
      run(worker, 'One too many', long);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(EngineOverloadedError);
    expect((refused as EngineOverloadedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    controller.abort();
    const outcomes = await Promise.all(accepted);
    // Aborted long before 300 tokens: no choice finished.
    expect(outcomes.every((outcome) => outcome.finishes.length === 0)).toBe(true);
    expect(worker.stats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('stops generating for a consumer that stops reading, and its rows are free again', async () => {
    let deltas = 0;
    for await (const event of run(worker, prompts[2]!, { maxTokens: 500, temperature: 0, stopOnEos: false })) {
      if (event.type !== 'delta') continue;
      deltas++;
      if (deltas === 2) break;
    }
    await until(() => worker.stats().running === 0, 'the cancelled request to leave the batch');
    // All 4 rows are free: a request for all of them runs at once.
    expect((await collect(run(worker, 'After', { maxTokens: 3, n: 4, seed: 1, stopOnEos: false }))).ids.map((ids) => ids.length)).toEqual([3, 3, 3, 3]);
  });
});

describe('worker engine lifecycle', () => {
  let dir: string;
  const started: Engine[] = [];
  beforeAll(async () => {
    dir = await tinyModelDir();
  });
  afterAll(async () => {
    await Promise.all(started.map((engine) => engine.close()));
  });
  const start = async (extra: Partial<WorkerEngineOptions> = {}) => {
    const engine = await createWorkerEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 4, logLevel: 'silent', ...extra });
    started.push(engine);
    return engine;
  };
  const long = params({ maxTokens: 800, temperature: 0, stopOnEos: false });

  it('drains on close: running requests finish, new ones get EngineClosedError, the worker exits', async () => {
    const engine = await start();
    const running = collect(engine.generate({ promptIds: engine.tokenizer.encode('Closing time'), params: params({ maxTokens: 30, temperature: 0, stopOnEos: false }) }));
    const pid = engine.workerPid!;
    const closed = engine.close();
    expect(() => engine.generate({ promptIds: [1], params: long })).toThrow(EngineClosedError);
    expect(engine.isReady()).toBe(false);
    expect((await running).finishes).toEqual([expect.objectContaining({ reason: 'length', completionTokens: 30 })]);
    await closed;
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('fails in-flight requests with EngineUnavailableError when the worker is killed, then restarts it', async () => {
    const engine = await start();
    const { rest } = await firstDelta(engine.generate({ promptIds: [464, 2068], params: long }));
    const first = engine.workerPid!;
    process.kill(first, 'SIGKILL');
    await expect(rest).rejects.toBeInstanceOf(EngineUnavailableError);
    await expect(rest).rejects.toThrow(/killed by SIGKILL/);
    expect(engine.isReady()).toBe(false);
    expect(() => engine.generate({ promptIds: [1], params: long })).toThrow(EngineUnavailableError);
    await until(() => engine.isReady(), 'the restarted worker');
    expect(engine.workerPid).not.toBe(first);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0 });
    expect((await collect(engine.generate({ promptIds: [464], params: params({ maxTokens: 3, temperature: 0 }) }))).ids[0]).toHaveLength(3);
  });

  it('keeps its host-device totals growing across a worker restart (the metrics add on what came since the last scrape)', async () => {
    const engine = await start();
    await collect(engine.generate({ promptIds: [464, 2068], params: params({ maxTokens: 20, temperature: 0, stopOnEos: false }) }));
    const before = engine.stats().transfers!;
    expect(before.passes).toBeGreaterThanOrEqual(20);
    const first = engine.workerPid!;
    process.kill(first, 'SIGKILL');
    await until(() => engine.isReady() && engine.workerPid !== first, 'the restarted worker');
    await collect(engine.generate({ promptIds: [464], params: params({ maxTokens: 2, temperature: 0, stopOnEos: false }) }));
    const after = engine.stats().transfers!;
    // The fresh worker made only a few passes; the totals still include the first worker's.
    expect(after.passes).toBeGreaterThan(before.passes);
    expect(after.toDevice).toBeGreaterThan(before.toDevice);
    expect(after.toHost).toBeGreaterThan(before.toHost);
  });

  it('kills a worker that makes no progress past the watchdog, failing its requests, and restarts it', async () => {
    const engine = await start({ watchdogSeconds: 1 });
    const { rest } = await firstDelta(engine.generate({ promptIds: [464, 2068], params: long }));
    const stopped = engine.workerPid!;
    // A stopped process is what a hung onnxruntime call looks like from here: no more steps.
    process.kill(stopped, 'SIGSTOP');
    await expect(rest).rejects.toThrow(/made no progress for \d+\.\d s with requests in flight/);
    await until(() => engine.isReady(), 'the restarted worker');
    expect(engine.workerPid).not.toBe(stopped);
  });

  it('gives up after the allowed restarts: onFatal runs and the engine stays unavailable', async () => {
    let fatal: Error | undefined;
    const engine = await start({ maxRestarts: 0, onFatal: (error) => (fatal = error) });
    process.kill(engine.workerPid!, 'SIGKILL');
    await until(() => fatal !== undefined, 'onFatal');
    expect(fatal).toBeInstanceOf(EngineUnavailableError);
    expect(fatal!.message).toMatch(/failed 1 times in 10 minutes .*not restarting it/);
    expect(engine.isReady()).toBe(false);
  });

  it('rejects with the worker\'s ModelLoadError when the folder lacks the graph MODEL_DTYPE asks for', async () => {
    // The tokenizer loads on the main thread; the graph choice travels to the worker, which refuses it.
    const failed = createWorkerEngine({ modelDir: dir, dtype: 'q4', logLevel: 'silent' });
    await expect(failed).rejects.toBeInstanceOf(ModelLoadError);
    await expect(failed).rejects.toThrow(`MODEL_DIR=${dir} has no q4 graph (looked for onnx/model_q4.onnx, onnx/decoder_model_merged_q4.onnx); it has: fp32`);
  });

  it('refuses a folder the main thread cannot make a tokenizer from, with ModelLoadError', async () => {
    const failed = createWorkerEngine({ modelDir: '/nonexistent/model', logLevel: 'silent' });
    await expect(failed).rejects.toBeInstanceOf(ModelLoadError);
    await expect(failed).rejects.toThrow(/MODEL_DIR=\/nonexistent\/model has no config.json/);
  });
});
