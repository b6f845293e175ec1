// The GPT-2 decoder as an ONNX graph with the signature of the Hugging Face Optimum "with past"
// export (onnx-community/gpt2-ONNX): input_ids, attention_mask, position_ids, past_key_values.{i}.key/value
// in; logits, present.{i}.key/value out. Or, as the `merged` layout, the signature of Xenova's
// decoder_model_merged.onnx: no position_ids, a bool use_cache_branch. Weights are seeded random
// numbers, in fp32 or fp16; an fp16 graph has fp16 inputs and outputs, or fp32 ones with Cast nodes
// around the fp16 graph (`fp16-io32`: what transformers.js' quantize.py writes with keep_io_types).
// Or, as the `preallocated-kv` layout, our own signature for a cache the engine preallocates and
// writes into: the past is read in place from `cache.{i}.key` (transposed) / `cache.{i}.value`
// buffers, and only the step's new keys and values come out (`new.{i}.key` / `new.{i}.value`).
import type { onnx } from 'onnx-proto';
import { DATA_TYPE, GraphBuilder, LOWEST, type FloatType } from './graph-builder';
import type { Gpt2Shape } from './presets';
import { fillNormal, uniformGenerator } from './prng';

export const OPSET = 17;
const LAYER_NORM_EPSILON = 1e-5;
const BATCH = 'batch_size';
const SEQ = 'sequence_length';
const PAST = 'past_sequence_length';
const TOTAL = 'past_sequence_length + sequence_length';
const CAPACITY = 'cache_capacity';
const CAPACITY_TOTAL = 'cache_capacity + sequence_length';

/**
 * `with-past`: onnx/model.onnx as onnx-community exports it; `merged`: onnx/decoder_model_merged.onnx
 * as Xenova's; `preallocated-kv`: onnx/model.onnx with the preallocated-cache signature (same weights).
 */
export type ExportLayout = 'with-past' | 'merged' | 'preallocated-kv';
export const EXPORT_LAYOUTS: readonly ExportLayout[] = ['with-past', 'merged', 'preallocated-kv'];

/** How many random weights buildGpt2Model draws (embeddings and every matrix; norms and biases are constant). */
export function randomWeightCount({ nLayer, nEmbd, nPositions, vocabSize }: Gpt2Shape): number {
  // Per layer: c_attn E x 3E, attn.c_proj E x E, mlp.c_fc E x 4E, mlp.c_proj 4E x E.
  return (vocabSize + nPositions) * nEmbd + nLayer * 12 * nEmbd * nEmbd;
}

/** Weights and compute type, and the type of the float inputs and outputs (past, present, logits). */
export type GraphPrecision = 'fp32' | 'fp16' | 'fp16-io32';
export const GRAPH_PRECISIONS: readonly GraphPrecision[] = ['fp32', 'fp16', 'fp16-io32'];

/**
 * What a parameter holds before training: GPT-2's random init for embeddings (`normal`) and for the
 * `[in, out]` weight of a linear layer (`linear`: the same, or 1/sqrt(in) with `--init fan-in`),
 * LayerNorm's ones and zeros, zero biases.
 */
export type ParameterInit = 'normal' | 'linear' | 'ones' | 'zeros';

/** The values of the parameter GPT-2 (PyTorch) names `name`, of `dims`, row-major. */
export type ParameterSource = (name: string, dims: readonly number[], init: ParameterInit) => Float32Array;

/** Seeded random parameters; `onWeights` hears the running count of random weights drawn (drawing them is most of the time). */
export function randomParameters(
  { initStd, weightInit }: Pick<Gpt2Shape, 'initStd' | 'weightInit'>,
  seed: number,
  onWeights?: (drawn: number) => void,
): ParameterSource {
  const random = uniformGenerator(seed);
  let drawn = 0;
  return (_name, dims, init) => {
    const length = dims.reduce((a, b) => a * b, 1);
    if (init === 'ones' || init === 'zeros') return new Float32Array(length).fill(init === 'ones' ? 1 : 0);
    // Fan-in scaling keeps the same random stream, only scaled, so `fixed` models stay as they were.
    const std = init === 'linear' && weightInit === 'fan-in' ? 1 / Math.sqrt(dims[0] ?? 1) : initStd;
    const values = fillNormal(new Float32Array(length), std, random);
    drawn += values.length;
    onWeights?.(drawn);
    return values;
  };
}

/** A GPT-2 with seeded random weights (see randomParameters). */
export function buildGpt2Model(
  shape: Gpt2Shape,
  seed: number,
  layout: ExportLayout = 'with-past',
  precision: GraphPrecision = 'fp32',
  onWeights?: (drawn: number) => void,
): onnx.ModelProto {
  return buildGpt2Graph(shape, randomParameters(shape, seed, onWeights), layout, precision);
}

/** A GPT-2 of `shape` whose parameters come from `parameters` (random ones, or another graph's: model:preallocate-kv). */
export function buildGpt2Graph(shape: Omit<Gpt2Shape, 'initStd'>, parameters: ParameterSource, layout: ExportLayout = 'with-past', precision: GraphPrecision = 'fp32'): onnx.ModelProto {
  const { nLayer, nHead, nEmbd, nPositions, vocabSize } = shape;
  if (nEmbd % nHead !== 0) throw new Error(`n_embd (${nEmbd}) must be a multiple of n_head (${nHead})`);
  if (layout === 'preallocated-kv' && precision === 'fp16-io32') {
    // A Cast between fp32 cache buffers and the fp16 graph would copy the whole cache every step.
    throw new Error('--export preallocated-kv needs the cache in the graph\'s own type: use --dtype fp32 or fp16, not fp16-io32');
  }
  const headDim = nEmbd / nHead;

  const compute: FloatType = precision === 'fp32' ? 'float32' : 'float16';
  const io: FloatType = precision === 'fp16' ? 'float16' : 'float32';
  const g = new GraphBuilder(compute);
  const parameter = (name: string, dims: readonly number[], init: ParameterInit) => g.weight(name, parameters(name, dims, init), dims);
  // Between an fp32 input or output and the fp16 graph: a Cast, as keep_io_types inserts it.
  const toCompute = (x: string) => (io === compute ? x : g.op('Cast', [x], { to: DATA_TYPE[compute] }));
  /** A node whose result is also graph output `name` (through a Cast when the output type differs); returns the result. */
  const withOutput = (opType: string, inputs: readonly string[], attributes: Record<string, number>, name: string): string => {
    if (io === compute) return g.op(opType, inputs, attributes, name);
    const value = g.op(opType, inputs, attributes);
    g.op('Cast', [value], { to: DATA_TYPE[io] }, name);
    return value;
  };

  const preallocated = layout === 'preallocated-kv';
  const inputIds = g.input('input_ids', 'int64', [BATCH, SEQ]);
  // In the preallocated layout the mask covers every cache slot (1 where the row has a token) and then the new tokens.
  const attentionMask = g.input('attention_mask', 'int64', [BATCH, preallocated ? CAPACITY_TOTAL : TOTAL]);
  const lengths = sequenceLengths(g, inputIds, attentionMask);
  const positionIds = layout === 'merged' ? positionsFromMask(g, attentionMask, lengths) : g.input('position_ids', 'int64', [BATCH, SEQ]);
  const past = Array.from({ length: nLayer }, (_, i) =>
    preallocated
      ? { key: g.input(`cache.${i}.key`, io, [BATCH, nHead, headDim, CAPACITY]), value: g.input(`cache.${i}.value`, io, [BATCH, nHead, CAPACITY, headDim]) }
      : {
          key: toCompute(g.input(`past_key_values.${i}.key`, io, [BATCH, nHead, PAST, headDim])),
          value: toCompute(g.input(`past_key_values.${i}.value`, io, [BATCH, nHead, PAST, headDim])),
        },
  );
  // The merged export switches between a no-past and a with-past subgraph; with an empty past both
  // compute the same thing, so this graph takes the flag and always uses the past.
  if (layout === 'merged') g.input('use_cache_branch', 'bool', [1]);

  const wte = parameter('transformer.wte.weight', [vocabSize, nEmbd], 'normal');
  const wpe = parameter('transformer.wpe.weight', [nPositions, nEmbd], 'normal');
  let hidden = g.op('Add', [g.op('Gather', [wte, inputIds]), g.op('Gather', [wpe, positionIds])]);

  const allowed = attentionAllowed(g, attentionMask, lengths);
  const masked = g.float(LOWEST[compute]);
  const scale = g.float(1 / Math.sqrt(headDim));
  const headsShape = g.int64([0, 0, nHead, headDim]);
  const mergedShape = g.int64([0, 0, nEmbd]);
  const gelu = geluConstants(g);

  const layerNorm = (x: string, prefix: string) =>
    g.op('LayerNormalization', [x, parameter(`${prefix}.weight`, [nEmbd], 'ones'), parameter(`${prefix}.bias`, [nEmbd], 'zeros')], {
      axis: -1,
      epsilon: LAYER_NORM_EPSILON,
    });
  const linear = (x: string, prefix: string, inDim: number, outDim: number) =>
    g.op('Add', [g.op('MatMul', [x, parameter(`${prefix}.weight`, [inDim, outDim], 'linear')]), parameter(`${prefix}.bias`, [outDim], 'zeros')]);
  const toHeads = (x: string) => g.op('Transpose', [g.op('Reshape', [x, headsShape])], { perm: [0, 2, 1, 3] });

  for (let i = 0; i < nLayer; i++) {
    const prefix = `transformer.h.${i}`;
    const layerPast = past[i] as { key: string; value: string };
    const qkv = linear(layerNorm(hidden, `${prefix}.ln_1`), `${prefix}.attn.c_attn`, nEmbd, 3 * nEmbd);
    const [q, k, v] = g.node('Split', [qkv, g.int64([nEmbd, nEmbd, nEmbd])], { axis: 2 }, 3) as [string, string, string];
    // Masked scores are replaced (not offset) by the lowest finite value, so that in fp16 a padded
    // query row, whose keys are all masked, stays finite instead of overflowing to -inf and NaN.
    const softmax = (scores: string) => g.op('Softmax', [g.op('Where', [allowed, g.op('Mul', [scores, scale]), masked])], { axis: -1 });
    let attended: string;
    if (preallocated) {
      // Scores against the cache (read in place, no Concat of the past) and against the new tokens,
      // side by side under one softmax; each half of the weights then multiplies its own values.
      const query = toHeads(q);
      const newKeys = g.op('Transpose', [toHeads(k)], { perm: [0, 1, 3, 2] }, `new.${i}.key`);
      const newValues = g.op('Transpose', [g.op('Reshape', [v, headsShape])], { perm: [0, 2, 1, 3] }, `new.${i}.value`);
      const probs = softmax(g.op('Concat', [g.op('MatMul', [query, layerPast.key]), g.op('MatMul', [query, newKeys])], { axis: 3 }));
      const split = g.op('Concat', [g.op('Shape', [layerPast.value], { start: 2, end: 3 }), g.op('Shape', [newValues], { start: 2, end: 3 })], { axis: 0 });
      const [cacheProbs, newProbs] = g.node('Split', [probs, split], { axis: 3 }, 2) as [string, string];
      attended = g.op('Add', [g.op('MatMul', [cacheProbs, layerPast.value]), g.op('MatMul', [newProbs, newValues])]);
    } else {
      const keys = withOutput('Concat', [layerPast.key, toHeads(k)], { axis: 2 }, `present.${i}.key`);
      const values = withOutput('Concat', [layerPast.value, toHeads(v)], { axis: 2 }, `present.${i}.value`);
      attended = g.op('MatMul', [softmax(g.op('MatMul', [toHeads(q), g.op('Transpose', [keys], { perm: [0, 1, 3, 2] })])), values]);
    }
    const context = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1, 3] }), mergedShape]);
    hidden = g.op('Add', [hidden, linear(context, `${prefix}.attn.c_proj`, nEmbd, nEmbd)]);

    const up = linear(layerNorm(hidden, `${prefix}.ln_2`), `${prefix}.mlp.c_fc`, nEmbd, 4 * nEmbd);
    hidden = g.op('Add', [hidden, linear(gelu(up), `${prefix}.mlp.c_proj`, 4 * nEmbd, nEmbd)]);
  }

  // Tied LM head: logits = ln_f(h) @ wte^T, as Gemm(transB=1) so wte is stored once.
  const flat = g.op('Reshape', [layerNorm(hidden, 'transformer.ln_f'), g.int64([-1, nEmbd])]);
  const flatLogits = g.op('Gemm', [flat, wte], { transB: 1 });
  const logitsShape = g.op('Concat', [g.op('Shape', [inputIds]), g.int64([vocabSize])], { axis: 0 });
  withOutput('Reshape', [flatLogits, logitsShape], {}, 'logits');

  g.output('logits', io, [BATCH, SEQ, vocabSize]);
  for (let i = 0; i < nLayer; i++) {
    if (preallocated) {
      g.output(`new.${i}.key`, io, [BATCH, nHead, headDim, SEQ]);
      g.output(`new.${i}.value`, io, [BATCH, nHead, SEQ, headDim]);
    } else {
      g.output(`present.${i}.key`, io, [BATCH, nHead, TOTAL, headDim]);
      g.output(`present.${i}.value`, io, [BATCH, nHead, TOTAL, headDim]);
    }
  }
  return g.toModel('gpt2_with_past', OPSET, 'gpt2-openai-toolkit model:make');
}

/** int64 scalars: the constant 1, the new tokens' count and past + new. */
interface Lengths {
  readonly one: string;
  readonly seqLen: string;
  readonly totalLen: string;
}

function sequenceLengths(g: GraphBuilder, inputIds: string, attentionMask: string): Lengths {
  const one = g.int64([1], []);
  return {
    one,
    seqLen: g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 }),
    totalLen: g.op('Gather', [g.op('Shape', [attentionMask]), one], { axis: 0 }),
  };
}

/**
 * [batch, 1, seq, past+seq] bool: true where query i may attend key j (j <= past + i and
 * attention_mask[j] = 1). Built from attention_mask inside the graph so a left-padded row computes
 * exactly what its prompt alone would.
 */
function attentionAllowed(g: GraphBuilder, attentionMask: string, { one, seqLen, totalLen }: Lengths): string {
  const queryPositions = g.op('Range', [g.op('Sub', [totalLen, seqLen]), totalLen, one]);
  const keyPositions = g.op('Range', [g.int64([0], []), totalLen, one]);
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyPositions, g.int64([0])]),
    g.op('Unsqueeze', [queryPositions, g.int64([1])]),
  ]);
  const notPadding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: 9 }), g.int64([1, 2])]);
  return g.op('And', [g.op('Unsqueeze', [causal, g.int64([0, 1])]), notPadding]);
}

/** What exports without position_ids compute (as transformers does): cumsum(mask) - 1, 1 where padded, last seq columns. */
function positionsFromMask(g: GraphBuilder, attentionMask: string, { one, seqLen, totalLen }: Lengths): string {
  const counted = g.op('Sub', [g.op('CumSum', [attentionMask, one]), one]);
  const positions = g.op('Where', [g.op('Equal', [attentionMask, g.int64([0], [])]), one, counted]);
  const asVector = (scalar: string) => g.op('Unsqueeze', [scalar, g.int64([0])]);
  return g.op('Slice', [positions, asVector(g.op('Sub', [totalLen, seqLen])), asVector(totalLen), g.int64([1])]);
}

/** gelu_new (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluConstants(g: GraphBuilder): (x: string) => string {
  const half = g.float(0.5);
  const oneF = g.float(1);
  const cubic = g.float(0.044715);
  const sqrtTwoOverPi = g.float(Math.sqrt(2 / Math.PI));
  const three = g.float(3);
  return (x) => {
    const inner = g.op('Mul', [sqrtTwoOverPi, g.op('Add', [x, g.op('Mul', [cubic, g.op('Pow', [x, three])])])]);
    return g.op('Mul', [g.op('Mul', [half, x]), g.op('Add', [oneF, g.op('Tanh', [inner])])]);
  };
}
