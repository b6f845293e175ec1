// The local GPT-2 engine: loads the model, warms it up, and serves `Engine.generate` through one
// continuous-batching scheduler that owns the onnxruntime session.
import type { Logger } from 'pino';
import type { ModelDtype } from '../models/footprint';
import { ModelRunner } from './batch';
import { loadTokenizer } from './load-tokenizer';
import { loadModel, type LoadedModel } from './model';
import { createSamplingParams } from './params';
import { Scheduler } from './scheduler';
import type { Engine, EngineStats, GenerationEvent, GenerationRequest, Tokenizer } from './types';

export interface EngineOptions {
  /** A Hugging Face-layout folder: config.json, tokenizer files, ONNX graphs (see README "Models", `npm run model:make`). */
  readonly modelDir: string;
  /** MODEL_DTYPE: which of the folder's graphs to load. @default 'fp32' */
  readonly dtype?: ModelDtype;
  /** MODEL_FILE: a graph path inside the folder; overrides `dtype`. */
  readonly file?: string | undefined;
  /** @default 'cpu' */
  readonly executionProvider?: 'cpu' | 'cuda';
  /** onnxruntime intra-op threads. @default onnxruntime's choice (all cores) */
  readonly intraOpThreads?: number;
  /** Sequences decoded together at most (a request with n choices or n beams takes n). @default 16 */
  readonly maxBatchSize?: number;
  /** Requests waiting for the batch at most; beyond it `generate` throws EngineOverloadedError. @default 64 */
  readonly maxQueue?: number;
  /** The model name served to clients. @default 'gpt2' */
  readonly modelId?: string;
  /**
   * Padded prompt tokens per prefill run; bounds the logits buffer of long or simultaneous prompts.
   * @default 256
   */
  readonly prefillTokens?: number;
  readonly log?: Logger;
}

class OnnxEngine implements Engine {
  readonly contextLength: number;

  constructor(
    readonly modelId: string,
    readonly tokenizer: Tokenizer,
    private readonly model: LoadedModel,
    private readonly scheduler: Scheduler,
  ) {
    this.contextLength = model.config.nPositions;
  }

  generate(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    return this.scheduler.submit(request);
  }

  stats(): EngineStats {
    return this.scheduler.stats();
  }

  async close(): Promise<void> {
    await this.scheduler.close();
    await this.model.release();
  }
}

/** Loads the model, runs one short generation so the first request does not pay for warm-up, and returns the engine. */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const tokenizer = await loadTokenizer(options.modelDir);
  const model = await loadModel(options.modelDir, {
    ...(options.executionProvider ? { executionProvider: options.executionProvider } : {}),
    ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    file: options.file,
  });
  const maxBatchSize = options.maxBatchSize ?? 16;
  if (!model.hasPositionIds && maxBatchSize > 1) {
    // Such graphs compute positions inside; Optimum's exports before 1.14 count them from the start
    // of the padded batch (optimum#1381), so a row padded for a longer neighbour sees shifted positions.
    options.log?.warn(
      { onnxPath: model.onnxPath },
      'the graph has no position_ids input: if it numbers positions without the attention mask (Optimum exports before 1.14 do), a request batched with longer ones sees shifted positions; use an export with position_ids, or MAX_BATCH_SIZE=1 for results independent of batch neighbours',
    );
  }
  const scheduler = new Scheduler({
    runner: new ModelRunner(model),
    maxBatchSize,
    maxQueue: options.maxQueue ?? 64,
    contextLength: model.config.nPositions,
    eosTokenId: tokenizer.eosTokenId,
    tokenizer,
    ...(options.prefillTokens ? { prefillTokens: options.prefillTokens } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const engine = new OnnxEngine(options.modelId ?? 'gpt2', tokenizer, model, scheduler);
  const warmup = createSamplingParams({ maxTokens: 2, temperature: 0, seed: 0, stopOnEos: false }, { vocabSize: model.config.vocabSize });
  for await (const event of engine.generate({ promptIds: tokenizer.encode('Hello'), params: warmup })) void event;
  options.log?.info(
    { modelDir: model.dir, onnxPath: model.onnxPath, externalData: model.externalData, kvDtype: model.kvDtype, logitsDtype: model.logitsDtype, tokenizer: tokenizer.kind, chatTemplate: tokenizer.chatTemplate !== undefined },
    'engine ready',
  );
  return engine;
}
