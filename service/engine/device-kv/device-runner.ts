// The BatchModel whose KV cache stays on the device (the WebGPU execution provider): each forward
// pass feeds the past as device tensors and keeps the present there; cache rebuilds run as device
// graphs (cache-ops.ts); only the logits sampling needs come back. No device tensor is ever read.
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../model';
import type { BatchModel, LogitPositions, RowSource, TransferTotals } from '../scheduler/batch-model';
import { float16Input, float32Values } from '../float16';
import { feedBytes, stepFeeds } from '../step-feeds';
import { CacheOps, type GatherPart } from './cache-ops';
import { CacheMemory, DeviceKvCache } from './device-cache';

export interface DeviceForwardStep {
  readonly cache: DeviceKvCache;
  /** `[rows, positions, vocab]` logits as float32: the positions read back (the last one, or all `seqLength`). */
  readonly logits: Float32Array;
  readonly positions: number;
  readonly seqLength: number;
}

export class DeviceModelRunner implements BatchModel {
  readonly vocabSize: number;
  /** Only host tensors count: the step's ids and mask, index tensors, and the logits read back. */
  readonly transfers: TransferTotals = { toDevice: 0, toHost: 0 };
  private readonly pastNames: readonly string[];
  private readonly presentNames: readonly string[];
  private readonly ops: CacheOps;
  private readonly memory = new CacheMemory();

  /** @param model loaded with `executionProvider: 'webgpu'`, so that its outputs stay on the device. */
  constructor(private readonly model: LoadedModel) {
    const { nLayer, vocabSize } = model.config;
    this.vocabSize = vocabSize;
    this.pastNames = Array.from({ length: nLayer }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
    this.presentNames = Array.from({ length: nLayer }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
    this.ops = new CacheOps({
      executionProvider: model.executionProvider,
      kvDtype: model.kvDtype,
      logitsDtype: model.logitsDtype,
      tensorCount: this.pastNames.length,
    });
  }

  async forward(
    past: DeviceKvCache,
    inputIds: BigInt64Array,
    seq: number,
    newLengths?: readonly number[],
    logits: LogitPositions = 'last',
  ): Promise<DeviceForwardStep> {
    const pastTensors = await past.take();
    let outputs: ort.InferenceSession.OnnxValueMapType | undefined;
    try {
      const { feeds, lengths } = stepFeeds(past, inputIds, seq, newLengths, this.model);
      this.pastNames.forEach((name, t) => {
        const tensor = pastTensors[t];
        if (!tensor) throw new Error(`device cache has no tensor for ${name}`);
        // An empty past is host memory (nothing to copy); a device tensor is passed on untouched.
        feeds[name] = tensor.location === 'cpu' && tensor.type === 'float16' ? float16Input(tensor) : tensor;
      });
      this.transfers.toDevice += feedBytes(feeds);
      outputs = await this.model.session.run(feeds);
      const present = this.presentNames.map((name) => outputs?.[name] ?? missing(name));
      const positions = logits === 'all' ? Array.from({ length: seq }, (_, j) => j) : [seq - 1];
      const picked = await this.ops.pickLogits(outputs.logits ?? missing('logits'), positions);
      this.transfers.toDevice += 8 * positions.length;
      this.transfers.toHost += feedBytes({ picked });
      const values = float32Values(picked);
      const cache = new DeviceKvCache(past.batchSize, past.pastLength + seq, lengths, Promise.resolve(present), this.memory);
      outputs.logits?.dispose();
      outputs = undefined;
      return { cache, logits: values, positions: positions.length, seqLength: seq };
    } finally {
      past.release();
      // A pass that failed after the model ran leaves its device outputs to free here.
      if (outputs) for (const tensor of Object.values(outputs)) if (tensor.location === 'gpu-buffer') tensor.dispose();
    }
  }

  /** A cache with no past: empty host tensors, which the first pass feeds as they are. */
  emptyCache(rows: number): DeviceKvCache {
    return new DeviceKvCache(rows, 0, new Array<number>(rows).fill(0), Promise.resolve(this.emptyTensors(rows)), this.memory);
  }

  /**
   * A cache of host tensors (`[rows, heads, pastLength, headDim]`, one per layer and kind) that every
   * row fills whole: the first pass uploads them. For benchmarks that need a long past without a prefill.
   */
  hostCache(rows: number, pastLength: number, tensors: readonly ort.Tensor[]): DeviceKvCache {
    return new DeviceKvCache(rows, pastLength, new Array<number>(rows).fill(pastLength), Promise.resolve(tensors), this.memory);
  }

  /**
   * A cache whose row i is `sources[i]`'s row, built on the device by one gather graph over the
   * distinct source caches (each consumed by it). The gather starts now; the next pass awaits it.
   */
  gatherRows(sources: readonly RowSource[]): DeviceKvCache {
    const lengths = sources.map((source) => source.cache.lengths[source.row] ?? 0);
    const pastLength = Math.max(0, ...lengths);
    const caches: DeviceKvCache[] = [];
    const rows: number[][] = [];
    const places = sources.map((source) => {
      const cache = source.cache as DeviceKvCache;
      let c = caches.indexOf(cache);
      if (c < 0) c = caches.push(cache) - 1;
      const list = (rows[c] ??= []);
      return { c, within: list.push(source.row) - 1 };
    });
    // Row i of the result is row `within` of cache c's part, after the parts of caches 0..c-1.
    const offsets = rows.map((_, c) => rows.slice(0, c).reduce((sum, list) => sum + list.length, 0));
    const order = places.map(({ c, within }) => offsets[c]! + within);
    const ready = this.runGather(caches, rows, order, pastLength, sources.length);
    return new DeviceKvCache(sources.length, pastLength, lengths, ready, this.memory);
  }

  lastLogits(result: DeviceForwardStep, row: number): Float32Array {
    return this.view(result, row, result.positions - 1);
  }

  positionLogits(result: DeviceForwardStep, row: number, position: number): Float32Array {
    if (result.positions === result.seqLength) return this.view(result, row, position);
    if (position === result.seqLength - 1) return this.view(result, row, 0);
    throw new Error(`logits at position ${position} were not read back: run the pass with logits 'all'`);
  }

  /** Frees every cache's device memory, then the cache-operation sessions (the model's own session is the model's to release). */
  async release(): Promise<void> {
    this.memory.freeAll();
    await this.ops.release();
  }

  private async runGather(caches: readonly DeviceKvCache[], rows: readonly number[][], order: readonly number[], pastLength: number, batch: number): Promise<readonly ort.Tensor[]> {
    try {
      const tensors = await Promise.all(caches.map((cache) => cache.take()));
      if (pastLength === 0) return this.emptyTensors(batch);
      const parts: GatherPart[] = caches.map((cache, c) => ({ tensors: tensors[c]!, pastLength: cache.pastLength, rows: rows[c]! }));
      const gathered = await this.ops.gather(parts, order, pastLength);
      this.transfers.toDevice += gathered.bytes;
      return gathered.tensors;
    } finally {
      for (const cache of caches) cache.release();
    }
  }

  private emptyTensors(rows: number): ort.Tensor[] {
    const { nHead, nEmbd } = this.model.config;
    const dims = [rows, nHead, 0, nEmbd / nHead];
    return this.pastNames.map(() =>
      this.model.kvDtype === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims),
    );
  }

  private view(result: DeviceForwardStep, row: number, index: number): Float32Array {
    const start = (row * result.positions + index) * this.vocabSize;
    return result.logits.subarray(start, start + this.vocabSize);
  }
}

function missing(name: string): never {
  throw new Error(`the model returned no ${name} output`);
}
