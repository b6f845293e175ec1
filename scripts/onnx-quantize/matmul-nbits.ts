// Rewrites every weight MatMul/Gemm of a graph into onnxruntime's com.microsoft MatMulNBits (8- or
// 4-bit block-quantized weights, fp32 activations), in place.
import { onnx } from 'onnx-proto';
import { type BlockQuantizeOptions, quantizeBlockwise } from './block-quantize';
import { DATA_TYPE, floatValues, tensorBytes } from './onnx-file';
import { findWeightLinears, type WeightLinear, weightColumnReader } from './weight-linears';

export const MICROSOFT_DOMAIN = 'com.microsoft';

export interface MatMulNBitsOptions extends BlockQuantizeOptions {
  /**
   * MatMulNBits' compute type: 4 quantizes the activations to int8 per block of each row (so a
   * row's result never depends on the other rows) and uses the int8 dot-product kernels; without it
   * the 8-bit kernel falls back to a path about 30x slower on AVX2.
   * @default 4
   */
  readonly accuracyLevel?: number;
}

export interface RewrittenLinear {
  readonly node: string;
  readonly opType: string;
  readonly weight: string;
  readonly k: number;
  readonly n: number;
  readonly bias: boolean;
}

export interface NBitsRewrite {
  readonly rewritten: readonly RewrittenLinear[];
  readonly initializerBytesBefore: number;
  readonly initializerBytesAfter: number;
}

export function rewriteToMatMulNBits(model: onnx.ModelProto, options: MatMulNBitsOptions): NBitsRewrite {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const initializerBytesBefore = sumBytes(graph.initializer ?? []);
  const linears = findWeightLinears(graph);
  const accuracyLevel = options.accuracyLevel ?? 4;
  const quantized = new Map<string, QuantizedWeight>();
  const replacements = new Map<onnx.INodeProto, onnx.INodeProto[]>();
  const dropped = new Set<onnx.INodeProto>();

  for (const linear of linears) {
    const key = `${linear.weight.name}|${linear.layout}|${linear.alpha}`;
    let weight = quantized.get(key);
    if (!weight) {
      const scaled = linear.alpha === 1 ? '' : `_alpha${linear.alpha}`;
      weight = quantizeWeight(linear, options, `${linear.weight.name}_${linear.layout === 'nk' ? 'rows' : 'cols'}${scaled}`);
      quantized.set(key, weight);
      (graph.initializer ??= []).push(...weight.initializers);
    }
    replacements.set(linear.node, matMulNBitsNodes(linear, weight, options, accuracyLevel));
    if (linear.transpose) dropped.add(linear.transpose);
  }

  graph.node = (graph.node ?? []).flatMap((node) => (dropped.has(node) ? [] : (replacements.get(node) ?? [node])));
  removeUnusedInitializers(graph);
  if (!(model.opsetImport ?? []).some((o) => o.domain === MICROSOFT_DOMAIN)) {
    model.opsetImport = [...(model.opsetImport ?? []), { domain: MICROSOFT_DOMAIN, version: 1 }];
  }
  return {
    rewritten: linears.map((l) => ({ node: l.node.name || l.output, opType: l.node.opType ?? '', weight: l.weight.name ?? '', k: l.k, n: l.n, bias: l.bias !== undefined })),
    initializerBytesBefore,
    initializerBytesAfter: sumBytes(graph.initializer ?? []),
  };
}

interface QuantizedWeight {
  readonly data: string;
  readonly scales: string;
  readonly zeroPoints?: string;
  readonly initializers: onnx.ITensorProto[];
}

function quantizeWeight(linear: WeightLinear, options: BlockQuantizeOptions, base: string): QuantizedWeight {
  const q = quantizeBlockwise(linear.k, linear.n, weightColumnReader(linear, floatValues(linear.weight)), options);
  const blockBytes = (options.blockSize * options.bits) / 8;
  const name = `${base}_q${options.bits}`;
  const initializers: onnx.ITensorProto[] = [
    { name, dataType: DATA_TYPE.UINT8, dims: [q.n, q.blocksPerColumn, blockBytes], rawData: q.data },
    { name: `${name}_scales`, dataType: DATA_TYPE.FLOAT, dims: [q.scales.length], rawData: new Uint8Array(q.scales.buffer) },
  ];
  if (q.zeroPoints) initializers.push({ name: `${name}_zero_points`, dataType: DATA_TYPE.UINT8, dims: [q.zeroPoints.length], rawData: q.zeroPoints });
  return { data: name, scales: `${name}_scales`, ...(q.zeroPoints ? { zeroPoints: `${name}_zero_points` } : {}), initializers };
}

function matMulNBitsNodes(linear: WeightLinear, weight: QuantizedWeight, options: BlockQuantizeOptions, accuracyLevel: number): onnx.INodeProto[] {
  const base = linear.node.name || linear.output;
  const product = linear.bias ? `${linear.output}_matmul` : linear.output;
  const ints = onnx.AttributeProto.AttributeType.INT;
  const attribute = (name: string, value: number): onnx.IAttributeProto => ({ name, type: ints, i: value });
  const matmul: onnx.INodeProto = {
    name: `${base}_MatMulNBits`,
    opType: 'MatMulNBits',
    domain: MICROSOFT_DOMAIN,
    input: [linear.activation, weight.data, weight.scales, ...(weight.zeroPoints ? [weight.zeroPoints] : [])],
    output: [product],
    attribute: [
      attribute('K', linear.k),
      attribute('N', linear.n),
      attribute('bits', options.bits),
      attribute('block_size', options.blockSize),
      attribute('accuracy_level', accuracyLevel),
    ],
  };
  if (!linear.bias) return [matmul];
  return [matmul, { name: `${base}_bias`, opType: 'Add', input: [product, linear.bias], output: [linear.output] }];
}

/** Drops initializers no node reads any more (the fp32 weights just replaced). */
export function removeUnusedInitializers(graph: onnx.IGraphProto): void {
  const used = new Set<string>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) used.add(input);
  for (const output of graph.output ?? []) used.add(output.name ?? '');
  const removed = new Set((graph.initializer ?? []).filter((t) => !used.has(t.name ?? '')).map((t) => t.name ?? ''));
  graph.initializer = (graph.initializer ?? []).filter((t) => !removed.has(t.name ?? ''));
  // Old exports list initializers among the graph inputs too; a removed one goes from both.
  graph.input = (graph.input ?? []).filter((input) => !removed.has(input.name ?? ''));
}

export function sumBytes(tensors: readonly onnx.ITensorProto[]): number {
  return tensors.reduce((sum, t) => sum + tensorBytes(t), 0);
}
