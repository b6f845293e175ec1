// The cache operations that run on the device, as small ONNX graphs on the model's execution
// provider: rebuilding a batch's cache from rows of other caches (Gather, Slice, Pad, Concat) and
// taking the logits sampling needs (Gather on the position axis), the only output read back.
import * as ort from 'onnxruntime-node';
import type { FloatType } from '../model';
import { writeOnnxModel, type GraphNode, type GraphSpec, type GraphValue } from './onnx-writer';

const OPSET = 17;
/** Slice's `ends` past any past length (Slice clamps it to the axis). */
const PAST_END = 2 ** 52;
const PAST_AXIS = 2;

/** What one source cache contributes to a rebuilt cache: its tensors and which of its rows, in order. */
export interface GatherPart {
  /** One tensor per layer and kind (key, value), `[rows, heads, past, headDim]`, on the device. */
  readonly tensors: readonly ort.Tensor[];
  readonly pastLength: number;
  readonly rows: readonly number[];
}

export interface CacheOpsOptions {
  readonly executionProvider: string;
  readonly kvDtype: FloatType;
  readonly logitsDtype: FloatType;
  /** Tensors per cache: 2 x n_layer. */
  readonly tensorCount: number;
}

export class CacheOps {
  /** Gather graphs by the number of source caches (a step merges the batch with a few prefills). */
  private readonly gathers = new Map<number, Promise<ort.InferenceSession>>();
  private picker: Promise<ort.InferenceSession> | undefined;

  constructor(private readonly options: CacheOpsOptions) {}

  /**
   * The cache whose rows are `parts`' rows in the order `order` gives (indices into the parts' rows
   * concatenated), each right-aligned in `pastLength` columns: a longer source drops leading
   * columns (padding in every kept row), a shorter one gets zero columns on the left (masked).
   * Returns the new tensors (on the device) and the index bytes sent.
   */
  async gather(parts: readonly GatherPart[], order: readonly number[], pastLength: number): Promise<{ tensors: ort.Tensor[]; bytes: number }> {
    const session = await this.gatherSession(parts.length);
    const feeds: Record<string, ort.Tensor> = { start: int64([-pastLength]) };
    parts.forEach((part, c) => {
      feeds[`rows${c}`] = int64(part.rows);
      feeds[`pads${c}`] = int64([0, 0, Math.max(0, pastLength - part.pastLength), 0, 0, 0, 0, 0]);
      part.tensors.forEach((tensor, t) => {
        feeds[`src${c}_${t}`] = tensor;
      });
    });
    if (parts.length > 1) feeds.order = int64(order);
    const outputs = await session.run(feeds);
    const tensors = Array.from({ length: this.options.tensorCount }, (_, t) => {
      const tensor = outputs[`out${t}`];
      if (!tensor) throw new Error(`the cache gather graph returned no out${t}`);
      return tensor;
    });
    const bytes = 8 * (1 + parts.reduce((sum, part) => sum + part.rows.length + 8, 0) + (parts.length > 1 ? order.length : 0));
    return { tensors, bytes };
  }

  /** `logits` (`[rows, seq, vocab]`, on the device) at `positions` of every row, as host memory. */
  async pickLogits(logits: ort.Tensor, positions: readonly number[]): Promise<ort.Tensor> {
    this.picker ??= this.createSession(
      {
        name: 'pick_logits',
        opset: OPSET,
        inputs: [
          { name: 'logits', type: this.options.logitsDtype, rank: 3 },
          { name: 'positions', type: 'int64', rank: 1 },
        ],
        outputs: [{ name: 'picked', type: this.options.logitsDtype, rank: 3 }],
        nodes: [{ op: 'Gather', inputs: ['logits', 'positions'], outputs: ['picked'], attributes: { axis: 1 } }],
      },
      'cpu',
    );
    const outputs = await (await this.picker).run({ logits, positions: int64(positions) });
    if (!outputs.picked) throw new Error('the logits graph returned no output');
    return outputs.picked;
  }

  async release(): Promise<void> {
    const sessions = [...this.gathers.values(), ...(this.picker ? [this.picker] : [])];
    await Promise.all(sessions.map(async (session) => (await session).release()));
  }

  private gatherSession(sources: number): Promise<ort.InferenceSession> {
    let session = this.gathers.get(sources);
    if (!session) {
      session = this.createSession(gatherGraph(sources, this.options), 'gpu-buffer');
      session.catch(() => this.gathers.delete(sources));
      this.gathers.set(sources, session);
    }
    return session;
  }

  private createSession(graph: GraphSpec, outputs: 'cpu' | 'gpu-buffer'): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(writeOnnxModel(graph), {
      executionProviders: [this.options.executionProvider],
      preferredOutputLocation: outputs,
    });
  }
}

/**
 * For each cache tensor t: every source c's rows (Gather, axis 0), its last `pastLength` columns
 * (Slice from -pastLength), left zero columns up to `pastLength` (Pad), the sources one after the
 * other (Concat, axis 0) and the rows in the batch's order (Gather by `order`).
 */
function gatherGraph(sources: number, { kvDtype, tensorCount }: CacheOpsOptions): GraphSpec {
  const inputs: GraphValue[] = [{ name: 'start', type: 'int64', rank: 1 }];
  for (let c = 0; c < sources; c++) {
    inputs.push({ name: `rows${c}`, type: 'int64', rank: 1 }, { name: `pads${c}`, type: 'int64', rank: 1 });
    for (let t = 0; t < tensorCount; t++) inputs.push({ name: `src${c}_${t}`, type: kvDtype, rank: 4 });
  }
  if (sources > 1) inputs.push({ name: 'order', type: 'int64', rank: 1 });
  const nodes: GraphNode[] = [];
  const outputs: GraphValue[] = [];
  for (let t = 0; t < tensorCount; t++) {
    const out = `out${t}`;
    const parts = Array.from({ length: sources }, (_, c) => {
      const padded = sources === 1 ? out : `padded${c}_${t}`;
      nodes.push(
        { op: 'Gather', inputs: [`src${c}_${t}`, `rows${c}`], outputs: [`rows${c}_${t}`], attributes: { axis: 0 } },
        { op: 'Slice', inputs: [`rows${c}_${t}`, 'start', 'past_end', 'past_axis'], outputs: [`sliced${c}_${t}`] },
        { op: 'Pad', inputs: [`sliced${c}_${t}`, `pads${c}`], outputs: [padded] },
      );
      return padded;
    });
    if (sources > 1) {
      nodes.push(
        { op: 'Concat', inputs: parts, outputs: [`joined${t}`], attributes: { axis: 0 } },
        { op: 'Gather', inputs: [`joined${t}`, 'order'], outputs: [out], attributes: { axis: 0 } },
      );
    }
    outputs.push({ name: out, type: kvDtype, rank: 4 });
  }
  return { name: `gather_rows_${sources}`, opset: OPSET, inputs, outputs, nodes, constants: { past_end: [PAST_END], past_axis: [PAST_AXIS] } };
}

function int64(values: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
}
