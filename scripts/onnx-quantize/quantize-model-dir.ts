// Quantizes a Hugging Face-layout GPT-2 folder's graph: into a new folder (model:optimize) with the
// tokenizer and config copied and a record of what was done, or beside the fp32 graph (model:make --dtype q8).
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { onnx } from 'onnx-proto';
import { ONNX_CANDIDATES } from '../../service/engine/model';
import { quantizeDynamicInt8 } from './dynamic-int8';
import { rewriteToMatMulNBits, type RewrittenLinear } from './matmul-nbits';
import { DATA_TYPE, parseOnnxModel, readOnnxModel, tensorBytes, writeOnnxModel } from './onnx-file';
import { fuseSkipLayerNorm } from './skip-layer-norm';

/** `int8`/`int4`: MatMulNBits (block-quantized weights, fp32 activations); `q8`: transformers.js' dynamic int8. */
export type WeightScheme = 'int8' | 'int4' | 'q8';
export const WEIGHT_SCHEMES: readonly WeightScheme[] = ['int8', 'int4', 'q8'];

/**
 * The file each scheme's graph gets, after the source's base name (model, decoder_model_merged),
 * as the hub's exports name them: `_q4` is onnx-community's MatMulNBits 4-bit and `_quantized`
 * transformers.js' q8. 8-bit MatMulNBits has no name there; `_int8`/`_uint8` already mean dynamic
 * quantization with int8/uint8 weights, so it gets a name of its own.
 */
export const SCHEME_SUFFIX: Record<WeightScheme, string> = { int4: '_q4', int8: '_q8_matmulnbits', q8: '_quantized' };

export const RECORD_FILE = 'model-optimize.json';
/** Files of the source folder that describe the source itself and are not copied. */
const NOT_COPIED = new Set(['model-make.json', RECORD_FILE]);
/** Bump when the rewrite changes: the benchmark regenerates folders whose record carries another version. */
export const OPTIMIZER_VERSION = 2;

export interface QuantizeOptions {
  readonly scheme: WeightScheme;
  /** MatMulNBits' block size. @default 32 */
  readonly blockSize?: number;
  /** MatMulNBits without zero points. @default true (see README: faster here, same quality) */
  readonly symmetric?: boolean;
  /** Weights in a `.onnx_data` file beside the graph. @default only above protobuf's 2 GB limit */
  readonly externalData?: boolean;
  /** MatMulNBits graphs: residual Add + LayerNormalization as SkipLayerNormalization (README: measured faster). @default true */
  readonly fuseSkipLayerNorm?: boolean;
}

export interface QuantizeRecord {
  readonly tool: 'model:optimize';
  readonly version: number;
  readonly createdAt: string;
  readonly source: { readonly dir: string; readonly graph: string; readonly bytes: number; readonly sha256: string };
  readonly output: {
    readonly graph: string;
    readonly bytes: number;
    readonly externalData?: { readonly file: string; readonly bytes: number };
    /** Names under which the same file is reachable (a hard link), for loaders that open only that name. */
    readonly aliases: readonly string[];
  };
  readonly quantization:
    | {
        readonly format: 'MatMulNBits';
        readonly domain: 'com.microsoft';
        readonly bits: 4 | 8;
        readonly blockSize: number;
        readonly symmetric: boolean;
        readonly accuracyLevel: number;
        readonly activations: 'float32';
        /** Residual Add + LayerNormalization pairs fused into SkipLayerNormalization. */
        readonly skipLayerNormFused: number;
      }
    | { readonly format: 'dynamic-int8'; readonly weights: 'int8 per tensor, symmetric'; readonly activations: 'uint8 per tensor, at run time'; readonly gathers: readonly string[] };
  readonly nodesRewritten: readonly RewrittenLinear[];
  readonly initializerBytes: { readonly before: number; readonly after: number };
  /** fp32 initializers of 1 MB or more left as they were (e.g. an embedding table a Gather reads). */
  readonly fp32Kept: readonly { readonly name: string; readonly bytes: number }[];
}

export class ModelDirError extends Error {
  override readonly name = 'ModelDirError';
}

const ACCURACY_LEVEL = 4;

/** Rewrites the graph in place per `options`; returns what goes into the record. */
export function quantizeGraph(model: onnx.ModelProto, options: QuantizeOptions): Pick<QuantizeRecord, 'quantization' | 'nodesRewritten' | 'initializerBytes'> {
  if (options.scheme === 'q8') {
    const result = quantizeDynamicInt8(model);
    return {
      quantization: { format: 'dynamic-int8', weights: 'int8 per tensor, symmetric', activations: 'uint8 per tensor, at run time', gathers: result.gathers },
      nodesRewritten: result.rewritten,
      initializerBytes: { before: result.initializerBytesBefore, after: result.initializerBytesAfter },
    };
  }
  const bits = options.scheme === 'int4' ? 4 : 8;
  const blockSize = options.blockSize ?? 32;
  const symmetric = options.symmetric ?? true;
  const result = rewriteToMatMulNBits(model, { bits, blockSize, symmetric, accuracyLevel: ACCURACY_LEVEL });
  const skipLayerNormFused = options.fuseSkipLayerNorm === false ? 0 : fuseSkipLayerNorm(model.graph as onnx.IGraphProto);
  return {
    quantization: { format: 'MatMulNBits', domain: 'com.microsoft', bits, blockSize, symmetric, accuracyLevel: ACCURACY_LEVEL, activations: 'float32', skipLayerNormFused },
    nodesRewritten: result.rewritten,
    initializerBytes: { before: result.initializerBytesBefore, after: result.initializerBytesAfter },
  };
}

/** The graph file of a model folder, as the engine picks it (onnx/model.onnx, else the merged decoder). */
export async function sourceGraph(dir: string): Promise<string> {
  for (const candidate of ONNX_CANDIDATES) {
    if (await stat(join(dir, candidate)).then((s) => s.isFile(), () => false)) return candidate;
  }
  throw new ModelDirError(`${dir} has no ${ONNX_CANDIDATES.join(' or ')} (expected a Hugging Face-layout GPT-2 export; npm run model:make -- --preset tiny --out DIR makes one)`);
}

export function quantizedGraphName(graph: string, scheme: WeightScheme): string {
  return join(dirname(graph), `${basename(graph, '.onnx')}${SCHEME_SUFFIX[scheme]}.onnx`);
}

/**
 * Writes `outDir` (replacing it; staged beside it and renamed, so no reader sees half a folder):
 * the quantized graph under its scheme's name, the same file hard-linked under the source graph's
 * name (the engine opens onnx/model.onnx until a dtype can be chosen), every top-level file of
 * `inDir` (config, tokenizer), and the record.
 */
export async function quantizeModelDir(inDir: string, outDir: string, options: QuantizeOptions): Promise<QuantizeRecord> {
  const source = resolve(inDir);
  const target = resolve(outDir);
  if (source === target) throw new ModelDirError(`--out must differ from --in (${source}): the output folder is replaced as a whole`);
  if (!(await stat(join(source, 'config.json')).then((s) => s.isFile(), () => false))) {
    throw new ModelDirError(`${source} has no config.json (expected a Hugging Face-layout GPT-2 export; npm run model:make -- --preset tiny --out DIR makes one)`);
  }
  const graph = await sourceGraph(source);
  const sourceBytes = await readFile(join(source, graph));
  const sha256 = createHash('sha256').update(sourceBytes).digest('hex');
  const model = parseOnnxModel(sourceBytes, join(source, graph));
  const rewrite = quantizeGraph(model, options);

  const staging = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const outGraph = quantizedGraphName(graph, options.scheme);
    await mkdir(join(staging, dirname(outGraph)), { recursive: true });
    const written = await writeOnnxModel(join(staging, outGraph), model, options.externalData === undefined ? {} : { externalData: options.externalData });
    await linkOrCopy(join(staging, outGraph), join(staging, graph));
    for (const entry of await readdir(source, { withFileTypes: true })) {
      if (entry.isFile() && !NOT_COPIED.has(entry.name)) await copyFile(join(source, entry.name), join(staging, entry.name));
    }
    const record: QuantizeRecord = {
      tool: 'model:optimize',
      version: OPTIMIZER_VERSION,
      createdAt: new Date().toISOString(),
      source: { dir: source, graph, bytes: sourceBytes.byteLength, sha256 },
      output: {
        graph: outGraph,
        bytes: written.graphBytes,
        ...(written.externalDataFile ? { externalData: { file: join(dirname(outGraph), written.externalDataFile), bytes: written.externalDataBytes } } : {}),
        aliases: [graph],
      },
      ...rewrite,
      fp32Kept: (model.graph?.initializer ?? [])
        .filter((t) => t.dataType === DATA_TYPE.FLOAT && tensorBytes(t) >= 1e6)
        .map((t) => ({ name: t.name ?? '', bytes: tensorBytes(t) })),
    };
    await writeFile(join(staging, RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    return record;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Adds the `scheme` graph of `dir`'s `graph` beside it (the hub's layout: one folder, one file per dtype). */
export async function addQuantizedGraph(dir: string, graph: string, scheme: WeightScheme): Promise<string> {
  const model = await readOnnxModel(join(dir, graph));
  quantizeGraph(model, { scheme });
  const out = quantizedGraphName(graph, scheme);
  await writeOnnxModel(join(dir, out), model);
  return out;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  // A hard link costs no space; a file system without them gets a copy.
  await link(from, to).catch(() => copyFile(from, to));
}
