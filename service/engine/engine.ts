// The local GPT-2 engine in this thread: loads the model, warms it up, and serves `Engine.generate`
// through one continuous-batching scheduler that owns the onnxruntime session. The worker process
// (worker/entry.ts) runs the same core; the service talks to it through worker/client.ts.
import type { Logger } from 'pino';
import type { ModelDtype } from '../models/footprint';
import { ModelRunner } from './batch';
import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE } from './defaults';
import { EventChannel } from './event-channel';
import { loadTokenizer } from './load-tokenizer';
import { DeviceModelRunner } from './device-kv/device-runner';
import { ModelLoadError } from './errors';
import { loadModel, type ExecutionProvider, type FloatType, type KvCacheLayout, type LoadedModel } from './model';
import { createSamplingParams } from './params';
import { PreallocatedKvRunner } from './preallocated-kv/runner';
import type { BatchModel } from './scheduler/batch-model';
import type { PrefillChunking } from './scheduler/chunk-budget';
import { Scheduler, type StepReport } from './scheduler/scheduler';
import type { Engine, EngineStats, GenerationEvent, GenerationRequest, Tokenizer } from './types';

/** Everything the engine is built from, as plain data: what the service sends its worker process. */
export interface EngineSettings {
  /** A Hugging Face-layout folder: config.json, tokenizer files, ONNX graphs (see README "Models", `npm run model:make`). */
  readonly modelDir: string;
  /** MODEL_DTYPE: which of the folder's graphs to load. @default 'fp32' */
  readonly dtype?: ModelDtype;
  /** MODEL_FILE: a graph path inside the folder; overrides `dtype`. */
  readonly file?: string | undefined;
  /** @default 'cpu' */
  readonly executionProvider?: ExecutionProvider;
  /** onnxruntime intra-op threads. @default onnxruntime's choice (all cores) */
  readonly intraOpThreads?: number;
  /** Sequences decoded together at most (a request with n choices or n beams takes n). @default DEFAULT_MAX_BATCH_SIZE */
  readonly maxBatchSize?: number;
  /** Requests waiting for the batch at most; beyond it `generate` throws EngineOverloadedError. @default DEFAULT_MAX_QUEUE */
  readonly maxQueue?: number;
  /** The model name served to clients. @default 'gpt2' */
  readonly modelId?: string;
  /**
   * Padded prompt tokens per prefill run while nothing decodes; bounds the logits buffer of long or
   * simultaneous prompts. @default DEFAULT_PREFILL_TOKENS
   */
  readonly prefillTokens?: number;
  /** Prompt tokens prefilled per step while other sequences decode ('auto', a number, or 0 for whole prompts). @default DEFAULT_PREFILL_CHUNK_TOKENS */
  readonly prefillChunkTokens?: PrefillChunking;
}

export interface EngineOptions extends EngineSettings {
  readonly log?: Logger;
  /** Called after every forward pass (see Scheduler). */
  readonly onStep?: (step: StepReport) => void;
}

/** What the engine loaded, as plain data: its `engine ready` log line, and what its worker reports to the service. */
export interface EngineDescription {
  readonly modelDir: string;
  readonly onnxPath: string;
  readonly externalData: readonly string[];
  readonly kvDtype: FloatType;
  readonly logitsDtype: FloatType;
  /** The KV cache strategy the graph's signature chose, and what it costs. */
  readonly kvCache: KvCacheDescription;
  /** The tokenizer's kind (`gpt2-bpe`, `WordPiece`, ...). */
  readonly tokenizer: string;
  /** The model brought its own chat template. */
  readonly chatTemplate: boolean;
}

export interface KvCacheDescription {
  /**
   * `concat`: the graph concatenates past and new every step; `preallocated`: the engine's buffers,
   * written in place; `device` (webgpu): a concat graph whose cache never leaves the GPU.
   */
  readonly strategy: KvCacheLayout | 'device';
  /** Key and value of every layer for one token of one sequence. */
  readonly bytesPerToken: number;
  /**
   * The cache at full context for a full batch (maxBatchSize x n_positions x bytesPerToken): the most
   * it holds between steps. During a step a concat cache holds the past, onnxruntime's present and
   * the binding's copy of it (up to three times this); a preallocated one holds its buffers and the
   * step's new tokens, and twice its buffers only while rows are gathered or grow by a block.
   */
  readonly maxBytes: number;
  /** Slots a preallocated cache grows by. */
  readonly blockTokens?: number;
}

/** The model's BatchModel: the cache strategy its graph's signature asks for. */
function batchModelFor(model: LoadedModel): { runner: BatchModel; kvCache: Omit<KvCacheDescription, 'maxBytes'>; release?: () => Promise<void> } {
  const { nLayer, nEmbd } = model.config;
  const bytesPerToken = 2 * nLayer * nEmbd * (model.kvDtype === 'float32' ? 4 : 2);
  if (model.executionProvider === 'webgpu') {
    // The device runner feeds each step's present back as the next past on the GPU: it needs the
    // past_key_values/present signature, while a preallocated-kv graph reads host buffers the engine owns.
    if (model.kvCache !== 'concat') {
      throw new ModelLoadError(
        `MODEL_DIR=${model.dir}: ${model.onnxPath} has the preallocated-kv signature, which the CPU engine uses; EXECUTION_PROVIDER=webgpu keeps the cache on the device and needs a past_key_values/present export (model:make without --export preallocated-kv)`,
      );
    }
    const runner = new DeviceModelRunner(model);
    return { runner, kvCache: { strategy: 'device', bytesPerToken }, release: () => runner.release() };
  }
  if (model.kvCache === 'concat') return { runner: new ModelRunner(model), kvCache: { strategy: 'concat', bytesPerToken } };
  const runner = new PreallocatedKvRunner(model);
  return { runner, kvCache: { strategy: 'preallocated', bytesPerToken, blockTokens: runner.blockTokens } };
}

/** A loaded, warmed-up model with its scheduler: what both the in-process engine and the worker serve from. */
export interface EngineCore {
  readonly model: LoadedModel;
  readonly scheduler: Scheduler;
  readonly tokenizer: Tokenizer;
  readonly contextLength: number;
  readonly description: EngineDescription;
  /** Lets running and queued requests finish, then releases the session. */
  close(): Promise<void>;
}

/** Loads the tokenizer and the model and runs one short generation so the first request does not pay for warm-up. */
export async function startEngineCore(options: EngineOptions): Promise<EngineCore> {
  const tokenizer = await loadTokenizer(options.modelDir);
  const model = await loadModel(options.modelDir, {
    ...(options.executionProvider ? { executionProvider: options.executionProvider } : {}),
    ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    file: options.file,
  });
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (!model.hasPositionIds && maxBatchSize > 1) {
    // Such graphs compute positions inside; Optimum's exports before 1.14 count them from the start
    // of the padded batch (optimum#1381), so a row padded for a longer neighbour sees shifted positions.
    options.log?.warn(
      { onnxPath: model.onnxPath },
      'the graph has no position_ids input: if it numbers positions without the attention mask (Optimum exports before 1.14 do), a request batched with longer ones sees shifted positions; use an export with position_ids, or MAX_BATCH_SIZE=1 for results independent of batch neighbours',
    );
  }
  const { runner, kvCache, release } = batchModelFor(model);
  const scheduler = new Scheduler({
    runner,
    maxBatchSize,
    maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
    contextLength: model.config.nPositions,
    eosTokenId: tokenizer.eosTokenId,
    tokenizer,
    ...(options.prefillTokens ? { prefillTokens: options.prefillTokens } : {}),
    ...(options.prefillChunkTokens !== undefined ? { prefillChunkTokens: options.prefillChunkTokens } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const warmup = createSamplingParams({ maxTokens: 2, temperature: 0, seed: 0, stopOnEos: false }, { vocabSize: model.config.vocabSize });
  const channel = new EventChannel<GenerationEvent>(() => undefined);
  scheduler.submit({ promptIds: tokenizer.encode('Hello'), params: warmup }, channel);
  for await (const event of channel) void event;
  const description: EngineDescription = {
    modelDir: model.dir,
    onnxPath: model.onnxPath,
    externalData: model.externalData,
    kvDtype: model.kvDtype,
    logitsDtype: model.logitsDtype,
    kvCache: { ...kvCache, maxBytes: maxBatchSize * model.config.nPositions * kvCache.bytesPerToken },
    tokenizer: tokenizer.kind,
    chatTemplate: tokenizer.chatTemplate !== undefined,
  };
  options.log?.info(description, 'engine ready');
  return {
    model,
    scheduler,
    tokenizer,
    contextLength: model.config.nPositions,
    description,
    async close() {
      await scheduler.close();
      await release?.();
      await model.release();
    },
  };
}

class InProcessEngine implements Engine {
  readonly contextLength: number;
  readonly tokenizer: Tokenizer;
  private closing = false;

  constructor(
    readonly modelId: string,
    private readonly core: EngineCore,
  ) {
    this.contextLength = core.contextLength;
    this.tokenizer = core.tokenizer;
  }

  generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    let cancel = (): void => undefined;
    const channel = new EventChannel<GenerationEvent>(() => cancel());
    cancel = this.core.scheduler.submit(request, channel).cancel;
    return channel;
  }

  stats(): EngineStats {
    return this.core.scheduler.stats();
  }

  isReady(): boolean {
    return !this.closing;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.core.close();
  }
}

/**
 * The engine in this thread: every step blocks the event loop for its duration. The service runs
 * it in a worker process instead (worker/client.ts); tools and benchmarks use this one directly.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  return new InProcessEngine(options.modelId ?? 'gpt2', await startEngineCore(options));
}
