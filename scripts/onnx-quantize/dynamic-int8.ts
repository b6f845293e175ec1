// Dynamic int8 quantization as transformers.js' scripts/quantize.py makes `model_quantized.onnx`
// (dtype q8): onnxruntime's ONNXQuantizer in IntegerOps mode, QInt8 weights per tensor (symmetric),
// uint8 activations quantized at run time, MatMul with a constant B only, Gather tables quantized.
import { onnx } from 'onnx-proto';
import { roundHalfEven } from './block-quantize';
import { DATA_TYPE, floatValues } from './onnx-file';
import { removeUnusedInitializers, type RewrittenLinear, sumBytes } from './matmul-nbits';
import { findWeightLinears, GraphRewriteError, describeNode, type WeightLinear, weightColumnReader } from './weight-linears';

export interface DynamicInt8Rewrite {
  readonly rewritten: readonly RewrittenLinear[];
  /** Gather nodes whose table (the embeddings) became int8 with a DequantizeLinear after the lookup. */
  readonly gathers: readonly string[];
  readonly initializerBytesBefore: number;
  readonly initializerBytesAfter: number;
}

/** onnxruntime's symmetric QInt8 range: -127..127, so that 0 is exact and the range is symmetric. */
const INT8_LIMIT = 127;

/**
 * Rewrites `model` in place into what transformers.js' q8 tooling writes for it:
 * - Gemm becomes MatMul (+ Add), as onnxruntime's replace_gemm_with_matmul does first. There, a
 *   transB=1 weight is transposed in place, which breaks a weight also read elsewhere (the tied
 *   embedding of model:make's graph feeds a Gather too); here such a weight gets a transposed int8
 *   copy and keeps its original, which is the layout public exports have anyway (their LM head is a
 *   MatMul on its own transposed initializer).
 * - each MatMul with a weight: DynamicQuantizeLinear(x) -> MatMulInteger(x_q, W_q, x_zp, W_zp) ->
 *   Cast(float) -> Mul by x_scale * W_scale. onnxruntime fuses these into DynamicQuantizeMatMul
 *   at load time. x's scale is per tensor: a row's result depends on the other rows of the batch.
 * - each Gather on an fp32 table: int8 table, Gather, DequantizeLinear.
 */
export function quantizeDynamicInt8(model: onnx.ModelProto): DynamicInt8Rewrite {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const initializerBytesBefore = sumBytes(graph.initializer ?? []);
  const linears = findWeightLinears(graph);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const added: onnx.ITensorProto[] = [];
  const quantizedWeights = new Map<string, QuantizedTensor>();
  const quantizedActivations = new Map<string, QuantizedActivation>();
  const replacements = new Map<onnx.INodeProto, onnx.INodeProto[]>();
  const dropped = new Set<onnx.INodeProto>();

  const weightFor = (linear: WeightLinear): QuantizedTensor => {
    const key = `${linear.weight.name}|${linear.layout}|${linear.alpha}`;
    let quantized = quantizedWeights.get(key);
    if (!quantized) {
      const name = `${linear.weight.name}${linear.layout === 'nk' ? '_transposed' : ''}${linear.alpha === 1 ? '' : `_alpha${linear.alpha}`}`;
      quantized = quantizeTensorInt8(name, [linear.k, linear.n], matrixKn(linear));
      added.push(...quantized.initializers);
      quantizedWeights.set(key, quantized);
    }
    return quantized;
  };

  for (const linear of linears) {
    const base = linear.node.name || linear.output;
    const nodes: onnx.INodeProto[] = [];
    let activation = quantizedActivations.get(linear.activation);
    if (!activation) {
      activation = { data: `${linear.activation}_quantized`, scale: `${linear.activation}_scale`, zeroPoint: `${linear.activation}_zero_point` };
      quantizedActivations.set(linear.activation, activation);
      nodes.push({
        name: `${linear.activation}_QuantizeLinear`,
        opType: 'DynamicQuantizeLinear',
        input: [linear.activation],
        output: [activation.data, activation.scale, activation.zeroPoint],
      });
    }
    const weight = weightFor(linear);
    const product = linear.bias ? `${linear.output}_MatMul` : linear.output;
    nodes.push(
      { name: `${base}_quant`, opType: 'MatMulInteger', input: [activation.data, weight.data, activation.zeroPoint, weight.zeroPoint], output: [`${product}_output_quantized`] },
      { name: `${product}_output_quantized_cast`, opType: 'Cast', input: [`${product}_output_quantized`], output: [`${product}_output_quantized_cast_output`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DATA_TYPE.FLOAT }] },
      { name: `${base}_quant_scales_mul`, opType: 'Mul', input: [activation.scale, weight.scale], output: [`${base}_quant_scales_mul:0`] },
      { name: `${base}_quant_output_scale_mul`, opType: 'Mul', input: [`${product}_output_quantized_cast_output`, `${base}_quant_scales_mul:0`], output: [product] },
    );
    if (linear.bias) nodes.push({ name: `${base}_Add`, opType: 'Add', input: [product, linear.bias], output: [linear.output] });
    replacements.set(linear.node, nodes);
    if (linear.transpose) dropped.add(linear.transpose);
  }

  const gathers: string[] = [];
  for (const node of graph.node ?? []) {
    const table = initializers.get(node.input?.[0] ?? '');
    if (node.opType !== 'Gather' || !table || table.dataType !== DATA_TYPE.FLOAT) continue;
    const output = node.output?.[0];
    if (!output) throw new GraphRewriteError(`${describeNode(node)} has no output`);
    let quantized = quantizedWeights.get(`${table.name}|kn|1`);
    if (!quantized) {
      quantized = quantizeTensorInt8(table.name ?? '', (table.dims ?? []).map(Number), floatValues(table));
      added.push(...quantized.initializers);
      quantizedWeights.set(`${table.name}|kn|1`, quantized);
    }
    replacements.set(node, [
      { ...node, input: [quantized.data, ...(node.input ?? []).slice(1)], output: [`${output}_quantized`] },
      { name: `${output}_DequantizeLinear`, opType: 'DequantizeLinear', input: [`${output}_quantized`, quantized.scale, quantized.zeroPoint], output: [output] },
    ]);
    gathers.push(node.name || output);
  }

  graph.initializer = [...(graph.initializer ?? []), ...added];
  graph.node = (graph.node ?? []).flatMap((node) => (dropped.has(node) ? [] : (replacements.get(node) ?? [node])));
  removeUnusedInitializers(graph);
  return {
    rewritten: linears.map((l) => ({ node: l.node.name || l.output, opType: l.node.opType ?? '', weight: l.weight.name ?? '', k: l.k, n: l.n, bias: l.bias !== undefined })),
    gathers,
    initializerBytesBefore,
    initializerBytesAfter: sumBytes(graph.initializer),
  };
}

interface QuantizedActivation {
  readonly data: string;
  readonly scale: string;
  readonly zeroPoint: string;
}

interface QuantizedTensor {
  readonly data: string;
  readonly scale: string;
  readonly zeroPoint: string;
  readonly initializers: onnx.ITensorProto[];
}

/** The weight as MatMul's B, [K, N] row-major, times Gemm's alpha. */
function matrixKn(linear: WeightLinear): Float32Array {
  const values = floatValues(linear.weight);
  if (linear.layout === 'kn' && linear.alpha === 1) return values;
  const column = weightColumnReader(linear, values);
  const out = new Float32Array(linear.k * linear.n);
  const buffer = new Float32Array(linear.k);
  for (let col = 0; col < linear.n; col++) {
    column(col, buffer);
    for (let i = 0; i < linear.k; i++) out[i * linear.n + col] = buffer[i]!;
  }
  return out;
}

/** Per-tensor symmetric int8: scale = max|x| / 127, zero point 0 (onnxruntime's compute_scale_zp). */
function quantizeTensorInt8(name: string, dims: readonly number[], values: Float32Array): QuantizedTensor {
  let absMax = 0;
  for (const v of values) if (Math.abs(v) > absMax) absMax = Math.abs(v);
  const scale = absMax === 0 ? 1 : Math.fround((2 * absMax) / (2 * INT8_LIMIT));
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = roundHalfEven(Math.fround(values[i]! / scale));
    data[i] = q > INT8_LIMIT ? INT8_LIMIT : q < -INT8_LIMIT ? -INT8_LIMIT : q;
  }
  const names = { data: `${name}_quantized`, scale: `${name}_scale`, zeroPoint: `${name}_zero_point` };
  return {
    ...names,
    initializers: [
      { name: names.data, dataType: DATA_TYPE.INT8, dims: [...dims], rawData: new Uint8Array(data.buffer) },
      { name: names.scale, dataType: DATA_TYPE.FLOAT, dims: [], rawData: new Uint8Array(new Float32Array([scale]).buffer) },
      { name: names.zeroPoint, dataType: DATA_TYPE.INT8, dims: [], rawData: new Uint8Array(1) },
    ],
  };
}
