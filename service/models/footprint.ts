// How much memory a GPT-2 family model needs: weight bytes per dtype, KV cache bytes per token, and the
// largest batch that fits a given memory at full context. Used by the deployment spec's sizing check and
// the README's table; the shapes are those of the published configs (config.json of each checkpoint).
import { MODEL_ALIASES } from './hub-client';

/** The dtypes of the public ONNX exports (transformers.js' `dtype` names). */
export const MODEL_DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];

export interface Gpt2Shape {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  /** Context length. */
  readonly nPositions: number;
  readonly vocabSize: number;
}

/** The GPT-2 family as published (openai-community/* and distilbert/distilgpt2 config.json). */
export const GPT2_FAMILY = {
  distilgpt2: { nLayer: 6, nEmbd: 768, nHead: 12, nPositions: 1024, vocabSize: 50257 },
  gpt2: { nLayer: 12, nEmbd: 768, nHead: 12, nPositions: 1024, vocabSize: 50257 },
  'gpt2-medium': { nLayer: 24, nEmbd: 1024, nHead: 16, nPositions: 1024, vocabSize: 50257 },
  'gpt2-large': { nLayer: 36, nEmbd: 1280, nHead: 20, nPositions: 1024, vocabSize: 50257 },
  'gpt2-xl': { nLayer: 48, nEmbd: 1600, nHead: 25, nPositions: 1024, vocabSize: 50257 },
} as const satisfies Record<string, Gpt2Shape>;
export type Gpt2Size = keyof typeof GPT2_FAMILY;
export const GPT2_SIZES = Object.keys(GPT2_FAMILY) as Gpt2Size[];

/**
 * Bytes per parameter of the weight matrices (MatMul/Gemm) and of the embeddings for each dtype.
 * Quantized exports quantize the matrices only; embeddings (Gather) stay fp32, or fp16 in q4f16.
 * 4-bit blocks of 32 carry one fp32 scale (and in bnb4 one absmax) per block: 0.5 + 4/32 bytes.
 * The KV cache has the graph's input/output type: the public fp16 and q4f16 exports keep fp32
 * inputs and outputs (transformers.js' scripts/quantize.py converts with keep_io_types=True), so
 * the engine holds their cache in fp32; only a graph with fp16 I/O (model:make --dtype fp16) halves it.
 */
const BYTES: Readonly<Record<ModelDtype, { readonly matrix: number; readonly embedding: number; readonly kv: number }>> = {
  fp32: { matrix: 4, embedding: 4, kv: 4 },
  fp16: { matrix: 2, embedding: 2, kv: 4 },
  q8: { matrix: 1, embedding: 4, kv: 4 },
  int8: { matrix: 1, embedding: 4, kv: 4 },
  uint8: { matrix: 1, embedding: 4, kv: 4 },
  q4: { matrix: 0.625, embedding: 4, kv: 4 },
  q4f16: { matrix: 0.625, embedding: 2, kv: 4 },
  bnb4: { matrix: 0.625, embedding: 4, kv: 4 },
};

/**
 * What the runtime needs besides weights and KV: the session's arena, one prefill's logits buffer
 * (256 tokens x 50,257 x 4 bytes = 51 MB) and the process itself. Measured about 450 MB over the
 * weights for gpt2 fp32 on the CPU here (peak RSS 1.0-1.15 GB); rounded up.
 */
export const RUNTIME_OVERHEAD_BYTES = 512 * 1024 * 1024;

export interface ModelFootprint {
  readonly parameters: number;
  /** Bytes of the weights as loaded (an LM head tied to the embedding is stored once in fp32/fp16, as a second quantized matrix otherwise). */
  readonly weightBytes: number;
  /** Key and value of every layer for one token of one sequence. */
  readonly kvBytesPerToken: number;
  /** KV cache of one sequence at full context. */
  readonly kvBytesPerSequence: number;
}

export function modelFootprint(shape: Gpt2Shape, dtype: ModelDtype): ModelFootprint {
  const { nLayer, nEmbd, nPositions, vocabSize } = shape;
  const bytes = BYTES[dtype];
  // Per block: qkv (3d^2 + 3d), attention out (d^2 + d), MLP (8d^2 + 5d), two LayerNorms (4d).
  const matrixParams = nLayer * 12 * nEmbd * nEmbd;
  const smallParams = nLayer * 13 * nEmbd + 2 * nEmbd;
  const embeddingParams = (vocabSize + nPositions) * nEmbd;
  // A quantized export quantizes the tied LM head as its own MatMul weight: vocab x d more matrix bytes.
  const headBytes = bytes.matrix === bytes.embedding ? 0 : vocabSize * nEmbd * bytes.matrix;
  const weightBytes = matrixParams * bytes.matrix + embeddingParams * bytes.embedding + smallParams * 4 + headBytes;
  const kvBytesPerToken = 2 * nLayer * nEmbd * bytes.kv;
  return {
    parameters: matrixParams + smallParams + embeddingParams,
    weightBytes: Math.round(weightBytes),
    kvBytesPerToken,
    kvBytesPerSequence: kvBytesPerToken * nPositions,
  };
}

/** Sequences that fit `memoryBytes` at full context beside the weights and the runtime; 0 when the weights alone do not fit. */
export function maxBatchAtFullContext(shape: Gpt2Shape, dtype: ModelDtype, memoryBytes: number): number {
  const footprint = modelFootprint(shape, dtype);
  const free = memoryBytes - footprint.weightBytes - RUNTIME_OVERHEAD_BYTES;
  return free <= 0 ? 0 : Math.floor(free / footprint.kvBytesPerSequence);
}

/**
 * The family member a repository id or alias names (`gpt2-medium`, `openai-community/gpt2-large`,
 * `onnx-community/gpt2-xl-ONNX`, `Xenova/distilgpt2`), for the deployment spec's `model.size`;
 * undefined for anything else (fine-tunes and other shapes: set `model.size` in the spec).
 */
export function gpt2SizeOf(modelId: string): Gpt2Size | undefined {
  const repo = MODEL_ALIASES[modelId] ?? modelId;
  const name = (repo.split('/').pop() ?? '').toLowerCase().replace(/-onnx$/, '');
  return GPT2_SIZES.find((size) => size === name);
}
