// Finds the weight matrix products of a decoder graph (MatMul or Gemm whose second operand is an fp32
// initializer, directly or through a Transpose) and refuses, naming the node, graphs it cannot rewrite.
import type { onnx } from 'onnx-proto';
import { DATA_TYPE } from './onnx-file';

/** One `x @ W (+ b)` of the graph, with W as `n` columns of `k` inputs. */
export interface WeightLinear {
  /** The MatMul or Gemm node. */
  readonly node: onnx.INodeProto;
  readonly activation: string;
  readonly output: string;
  readonly weight: onnx.ITensorProto;
  /** `kn`: the initializer is [K, N] (MatMul's B); `nk`: [N, K] (Gemm with transB=1, or a transposed tied embedding). */
  readonly layout: 'kn' | 'nk';
  readonly k: number;
  readonly n: number;
  /** Gemm's alpha, folded into the weight. */
  readonly alpha: number;
  /** Gemm's C, added after the product. */
  readonly bias?: string;
  /** A Transpose that fed the weight and has no other consumer: it goes with the rewrite. */
  readonly transpose?: onnx.INodeProto;
}

export class GraphRewriteError extends Error {
  override readonly name = 'GraphRewriteError';
}

/** Nodes whose presence means the graph's weights are quantized already. */
const QUANTIZED_OPS = new Set(['MatMulNBits', 'MatMulInteger', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul', 'QGemm', 'MatMulBnb4', 'MatMulFpQ4', 'QuantizeLinear', 'DequantizeLinear', 'GatherBlockQuantized']);

export function describeNode(node: onnx.INodeProto): string {
  return `${node.opType} node ${node.name ? `'${node.name}'` : `producing '${node.output?.[0] ?? '?'}'`}`;
}

export function findWeightLinears(graph: onnx.IGraphProto): WeightLinear[] {
  const nodes = graph.node ?? [];
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const producers = new Map<string, onnx.INodeProto>();
  const consumers = new Map<string, number>();
  for (const node of nodes) {
    for (const output of node.output ?? []) producers.set(output, node);
    for (const input of node.input ?? []) if (input) consumers.set(input, (consumers.get(input) ?? 0) + 1);
  }
  for (const output of graph.output ?? []) consumers.set(output.name ?? '', (consumers.get(output.name ?? '') ?? 0) + 1);

  for (const node of nodes) {
    if (QUANTIZED_OPS.has(node.opType ?? '')) {
      throw new GraphRewriteError(`${describeNode(node)}: the graph is quantized already; model:optimize rewrites an fp32 export (onnx/model.onnx)`);
    }
    if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
      throw new GraphRewriteError(
        `${describeNode(node)} holds subgraphs (as Xenova's merged decoder does); model:optimize rewrites single-graph exports such as onnx-community's onnx/model.onnx`,
      );
    }
  }

  /** True when the value is computed from initializers and constants only (no graph input reaches it). */
  const constantMemo = new Map<string, boolean>();
  const isConstant = (value: string): boolean => {
    const known = constantMemo.get(value);
    if (known !== undefined) return known;
    constantMemo.set(value, false);
    const producer = producers.get(value);
    const result = initializers.has(value) || (producer !== undefined && (producer.input ?? []).filter(Boolean).every(isConstant));
    constantMemo.set(value, result);
    return result;
  };

  const linears: WeightLinear[] = [];
  for (const node of nodes) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const [activation, weightValue, bias] = node.input ?? [];
    const output = node.output?.[0];
    if (!activation || !weightValue || !output) throw new GraphRewriteError(`${describeNode(node)} lacks an input or output`);
    if (!isConstant(weightValue)) continue;
    if (isConstant(activation)) throw new GraphRewriteError(`${describeNode(node)} multiplies two constants; fold them before quantizing`);

    const attributes = node.opType === 'Gemm' ? gemmAttributes(node) : { alpha: 1, beta: 1, transA: 0, transB: 0 };
    if (attributes.transA !== 0) throw new GraphRewriteError(`${describeNode(node)} has transA=1; MatMulNBits takes its activation untransposed, so this Gemm cannot be rewritten`);
    if (bias && attributes.beta !== 1) throw new GraphRewriteError(`${describeNode(node)} has beta=${attributes.beta}; only beta=1 (the bias added as it is) can be rewritten`);

    let weight = initializers.get(weightValue);
    let transposed = attributes.transB === 1;
    let transpose: onnx.INodeProto | undefined;
    if (!weight) {
      const producer = producers.get(weightValue) as onnx.INodeProto;
      const source = producer.input?.[0] ?? '';
      const perm = producer.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
      if (producer.opType !== 'Transpose' || !initializers.has(source) || (perm !== undefined && !(perm[0] === 1 && perm[1] === 0))) {
        throw new GraphRewriteError(
          `${describeNode(node)} takes its weight '${weightValue}' from ${describeNode(producer)}; model:optimize rewrites weights that are initializers or a Transpose of one`,
        );
      }
      weight = initializers.get(source) as onnx.ITensorProto;
      transposed = !transposed;
      if (consumers.get(weightValue) === 1) transpose = producer;
    }
    if (weight.dataType !== DATA_TYPE.FLOAT) {
      throw new GraphRewriteError(`${describeNode(node)}: weight '${weight.name}' has ONNX data type ${weight.dataType}, not float32; model:optimize reads fp32 graphs (onnx/model.onnx)`);
    }
    const dims = (weight.dims ?? []).map(Number);
    if (dims.length !== 2) throw new GraphRewriteError(`${describeNode(node)}: weight '${weight.name}' has shape [${dims.join(', ')}], not a matrix; MatMulNBits needs a 2-D weight`);
    const [rows, cols] = dims as [number, number];
    linears.push({
      node,
      activation,
      output,
      weight,
      layout: transposed ? 'nk' : 'kn',
      k: transposed ? cols : rows,
      n: transposed ? rows : cols,
      alpha: attributes.alpha,
      ...(bias ? { bias } : {}),
      ...(transpose ? { transpose } : {}),
    });
  }
  if (linears.length === 0) throw new GraphRewriteError('the graph has no MatMul or Gemm with an fp32 weight initializer: nothing to quantize (is it a GPT-2 export?)');
  return linears;
}

function gemmAttributes(node: onnx.INodeProto): { alpha: number; beta: number; transA: number; transB: number } {
  const get = (name: string, fallback: number): number => {
    const attribute = node.attribute?.find((a) => a.name === name);
    if (!attribute) return fallback;
    return name === 'alpha' || name === 'beta' ? Number(attribute.f ?? fallback) : Number(attribute.i ?? fallback);
  };
  return { alpha: get('alpha', 1), beta: get('beta', 1), transA: get('transA', 0), transB: get('transB', 0) };
}

/** Fills `out` with the K inputs of output column `col`, times alpha. */
export function weightColumnReader(linear: WeightLinear, values: Float32Array): (col: number, out: Float32Array) => void {
  const { k, n, alpha } = linear;
  // [K, N] is read column by column: transpose it once, in tiles that stay in cache, rather than
  // striding through the whole matrix for every column.
  const rows = linear.layout === 'nk' ? values : transposeTiled(values, k, n);
  return (col, out) => {
    const start = col * k;
    for (let i = 0; i < k; i++) out[i] = rows[start + i]! * alpha;
  };
}

function transposeTiled(values: Float32Array, rows: number, cols: number): Float32Array {
  const TILE = 64;
  const out = new Float32Array(values.length);
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = values[r * cols + c]!;
    }
  }
  return out;
}
