/** @jest-environment ./test/support/onnx-environment.js */
import * as ort from 'onnxruntime-node';
import { DeviceModelRunner } from '../../../../service/engine/device-kv/device-runner';
import { missingVulkanPiece } from '../../../../service/engine/device-kv/vulkan-check';
import { createEngine } from '../../../../service/engine/engine';
import { loadModel } from '../../../../service/engine/model';
import { createSamplingParams } from '../../../../service/engine/params';
import type { Engine, GenerationEvent, SamplingParamsInput } from '../../../../service/engine/types';
import { tinyModelDir, tinyVariantDir } from '../../../support/models';

// The webgpu engine (KV cache on the device) against the cpu engine on the same tiny model, on
// Mesa's software Vulkan driver (lavapipe; .ci/run installs it): the same greedy tokens while
// requests join and leave, with n > 1, beams and a cancelled request; and no device tensor read.
// lavapipe runs a tiny-model step in about 0.3 s on a busy 2-core machine: the requests are short.

const VULKAN_MISSING = missingVulkanPiece();
if (VULKAN_MISSING) {
  throw new Error(
    `${VULKAN_MISSING}. These tests run the webgpu engine on lavapipe: .ci/run installs libvulkan1 and mesa-vulkan-drivers from bookworm-backports (Mesa >= 25; bookworm's 22.3 has no usable adapter).`,
  );
}

/** Every device tensor onnxruntime hands out throws on a read, and each attempt is recorded. */
interface Poison {
  readonly reads: string[];
  /** Element types of the device tensors handed out. */
  readonly types: Set<string>;
  deviceOutputs: number;
  deviceInputs: number;
}

function poisonDeviceTensors(): Poison {
  const poison: Poison = { reads: [], types: new Set(), deviceOutputs: 0, deviceInputs: 0 };
  // onnxruntime-common's InferenceSession is a class at run time; its typings declare only the factory.
  const prototype = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const run = prototype.run;
  jest.spyOn(prototype, 'run').mockImplementation(async function (this: ort.InferenceSession, ...args: Parameters<typeof run>) {
    const feeds = args[0] as Record<string, ort.Tensor>;
    poison.deviceInputs += Object.values(feeds).filter((tensor) => tensor.location === 'gpu-buffer').length;
    const outputs = await run.apply(this, args);
    for (const [name, tensor] of Object.entries(outputs) as [string, ort.Tensor][]) {
      if (tensor.location !== 'gpu-buffer') continue;
      poison.deviceOutputs += 1;
      poison.types.add(tensor.type);
      const refuse = (how: string) => () => {
        poison.reads.push(`${how} of ${name}`);
        throw new Error(`test: ${how} of device tensor ${name} (onnxruntime-node 1.30 aborts the process there)`);
      };
      Object.defineProperty(tensor, 'getData', { value: refuse('getData()') });
      Object.defineProperty(tensor, 'data', { get: refuse('.data') });
    }
    return outputs;
  });
  return poison;
}

interface Outcome {
  readonly texts: string[];
  readonly finish: string[];
  /** The first token's text (what a request cancelled after it is sure to have got). */
  readonly first: string | undefined;
}

async function collect(events: AsyncIterable<GenerationEvent>, onDelta?: () => void): Promise<Outcome> {
  const texts: string[] = [];
  const finish: string[] = [];
  let first: string | undefined;
  for await (const event of events) {
    if (event.type === 'delta') {
      first ??= event.text;
      texts[event.choice] = (texts[event.choice] ?? '') + event.text;
      onDelta?.();
    } else if (event.type === 'finish') finish[event.choice] = event.reason;
  }
  return { texts, finish, first };
}

/**
 * One scenario, the same on both engines: two requests start together and leave at different steps,
 * a third joins once the first decodes, one with n=2 and one with beams run beside them, and one is
 * cancelled after its first token.
 */
async function scenario(engine: Engine): Promise<Record<string, Outcome | string | undefined>> {
  const params = (input: SamplingParamsInput) => createSamplingParams({ temperature: 0, stopOnEos: false, ...input }, { vocabSize: engine.tokenizer.vocabSize });
  const start = (prompt: string, input: SamplingParamsInput, signal?: AbortSignal, onDelta?: () => void) =>
    collect(engine.generate({ promptIds: engine.tokenizer.encode(prompt), params: params(input), ...(signal ? { signal } : {}) }), onDelta);
  let joined: Promise<Outcome> | undefined;
  let cancelled: Promise<Outcome> | undefined;
  const abort = new AbortController();
  const first = start('The quick brown fox', { maxTokens: 6 }, undefined, () => {
    joined ??= start('A late arrival says', { maxTokens: 3 });
    cancelled ??= start('Cancel me after one token', { maxTokens: 6 }, abort.signal, () => abort.abort());
  });
  const [long, short, choices, beams] = await Promise.all([
    first,
    start('Hello', { maxTokens: 2 }),
    start('Two choices', { maxTokens: 3, n: 2 }),
    start('Beams here', { maxTokens: 3, numBeams: 2, n: 2 }),
  ]);
  const late = await joined!;
  const stopped = await cancelled!;
  // How many tokens a cancelled request got depends on when the cancel lands: compare its first.
  return { long, short, choices, beams, late, cancelledFirst: stopped.first };
}

describe('webgpu engine: the KV cache on the device', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tinyModelDir();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('gives the cpu engine greedy tokens while requests join and leave, with n > 1, beams and a cancelled request, and never reads a device tensor', async () => {
    const cpu = await createEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 8, executionProvider: 'cpu' });
    const expected = await scenario(cpu).finally(() => cpu.close());

    const poison = poisonDeviceTensors();
    const webgpu = await createEngine({ modelDir: dir, maxBatchSize: 8, executionProvider: 'webgpu' });
    const actual = await scenario(webgpu).finally(() => webgpu.close());

    expect(actual).toEqual(expected);
    expect((expected.choices as Outcome).texts).toHaveLength(2);
    expect((expected.beams as Outcome).texts).toHaveLength(2);
    expect(expected.cancelledFirst).toEqual(expect.any(String));
    expect(poison.reads).toEqual([]);
    // The cache really went round on the device: present outputs stayed there and came back as past.
    expect(poison.deviceOutputs).toBeGreaterThan(20);
    expect(poison.deviceInputs).toBeGreaterThan(20);
  });

  it('runs the fp16 graph (model:make --dtype fp16) with an fp16 cache on the device, giving the cpu engine greedy tokens', async () => {
    const fp16 = await tinyVariantDir('tiny-fp16', { precision: 'fp16' });
    const cpu = await createEngine({ modelDir: fp16, dtype: 'fp16', intraOpThreads: 1, maxBatchSize: 8, executionProvider: 'cpu' });
    const expected = await scenario(cpu).finally(() => cpu.close());

    const poison = poisonDeviceTensors();
    const webgpu = await createEngine({ modelDir: fp16, dtype: 'fp16', maxBatchSize: 8, executionProvider: 'webgpu' });
    const actual = await scenario(webgpu).finally(() => webgpu.close());

    expect(actual).toEqual(expected);
    expect(poison.reads).toEqual([]);
    expect([...poison.types]).toEqual(['float16']);
    expect(poison.deviceInputs).toBeGreaterThan(20);
  });

  it('brings back only the last position of logits per row and step, whatever the past length', async () => {
    const model = await loadModel(dir, { executionProvider: 'webgpu' });
    const runner = new DeviceModelRunner(model);
    try {
      const prompt = BigInt64Array.from({ length: 2 * 8 }, (_, i) => BigInt(100 + i));
      let step = await runner.forward(runner.emptyCache(2), prompt, 8, [8, 5]);
      const logitsRow = 4 * runner.vocabSize;
      const perStep: number[] = [];
      for (let i = 0; i < 3; i++) {
        const before = runner.transfers.toHost;
        step = await runner.forward(step.cache, BigInt64Array.of(7n, 8n), 1);
        perStep.push(runner.transfers.toHost - before);
      }
      expect(perStep).toEqual([2 * logitsRow, 2 * logitsRow, 2 * logitsRow]);
      expect(() => runner.positionLogits(step, 0, 0)).not.toThrow();
      expect(runner.lastLogits(step, 1)).toHaveLength(runner.vocabSize);
    } finally {
      await runner.release();
      await model.release();
    }
  });

  it('refuses to read a device cache twice instead of touching freed device memory', async () => {
    const model = await loadModel(dir, { executionProvider: 'webgpu' });
    const runner = new DeviceModelRunner(model);
    try {
      const first = await runner.forward(runner.emptyCache(1), BigInt64Array.of(1n, 2n), 2);
      await runner.forward(first.cache, BigInt64Array.of(3n), 1);
      await expect(runner.forward(first.cache, BigInt64Array.of(3n), 1)).rejects.toThrow(/read twice/);
    } finally {
      await runner.release();
      await model.release();
    }
  });
});
