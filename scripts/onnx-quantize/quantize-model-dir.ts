// Quantizes a Hugging Face-layout GPT-2 folder's graph: into a new folder (model:optimize) with the
// tokenizer and config copied and a record of what was done, or beside the fp32 graph (model:make --dtype q8).
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import type { onnx } from 'onnx-proto';
import type { ModelDtype } from '../../service/models/footprint';
import { DTYPE_SUFFIX, graphCandidates } from '../../service/models/model-files';
import { quantizeDynamicInt8 } from './dynamic-int8';
import { rewriteToMatMulNBits, type RewrittenLinear } from './matmul-nbits';
import { DATA_TYPE, parseOnnxModel, readOnnxModel, tensorBytes, writeOnnxModel } from './onnx-file';
import { fuseSkipLayerNorm } from './skip-layer-norm';

/** `int8`/`int4`: MatMulNBits (block-quantized weights, fp32 activations); `q8`: transformers.js' dynamic int8. */
export type WeightScheme = 'int8' | 'int4' | 'q8';
export const WEIGHT_SCHEMES: readonly WeightScheme[] = ['int8', 'int4', 'q8'];

/**
 * The MODEL_DTYPE (transformers.js' dtype) whose file each scheme's graph is, where one means what the
 * scheme is. transformers.js' scripts/quantize.py makes `q4` with onnxruntime's MatMul4BitsQuantizer
 * (MatMulNBits, 4 bits, blocks of 32, symmetric: our int4) and `q8` with its dynamic IntegerOps
 * quantizer (our q8). 8-bit MatMulNBits has no dtype there: its `int8` and `uint8` are the same
 * dynamic quantization as `q8` with int8 or uint8 weights, so int8 is served through MODEL_FILE.
 */
const SCHEME_DTYPE: Readonly<Record<WeightScheme, ModelDtype | undefined>> = { int4: 'q4', int8: undefined, q8: 'q8' };
const SCHEME_SUFFIX: Readonly<Record<WeightScheme, string>> = { int4: DTYPE_SUFFIX.q4, int8: '_q8_matmulnbits', q8: DTYPE_SUFFIX.q8 };

export const RECORD_FILE = 'model-optimize.json';
/** Files of the source folder that describe the source itself and are not copied. */
const NOT_COPIED = new Set(['model-make.json', RECORD_FILE]);
/** Bump when the rewrite changes: the benchmark regenerates folders whose record carries another version. */
export const OPTIMIZER_VERSION = 3;

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
  };
  /** The service's environment that serves this graph from the folder (MODEL_DIR=the folder and these). */
  readonly serve: ServeChoice;
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

export type ServeChoice = { readonly MODEL_DTYPE: ModelDtype } | { readonly MODEL_FILE: string };

/** How MODEL_DTYPE / MODEL_FILE pick `scheme`'s graph, written at `graph` inside the folder. */
export function serveChoice(scheme: WeightScheme, graph: string): ServeChoice {
  const dtype = SCHEME_DTYPE[scheme];
  return dtype === undefined ? { MODEL_FILE: graph } : { MODEL_DTYPE: dtype };
}

class ModelDirError extends Error {
  override readonly name = 'ModelDirError';
}

const ACCURACY_LEVEL = 4;

/** Rewrites the graph in place per `options`; returns what goes into the record. */
function quantizeGraph(model: onnx.ModelProto, options: QuantizeOptions): Pick<QuantizeRecord, 'quantization' | 'nodesRewritten' | 'initializerBytes'> {
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

/** The fp32 graph of a model folder, as MODEL_DTYPE=fp32 picks it (onnx/model.onnx, else the merged decoder). */
async function sourceGraph(dir: string): Promise<string> {
  const candidates = graphCandidates('fp32');
  for (const candidate of candidates) {
    if (await stat(join(dir, candidate)).then((s) => s.isFile(), () => false)) return candidate;
  }
  throw new ModelDirError(`${dir} has no fp32 graph (looked for ${candidates.join(', ')}): model:optimize quantizes an fp32 Hugging Face-layout GPT-2 export (npm run model:make -- --preset tiny --out DIR makes one)`);
}

export function quantizedGraphName(graph: string, scheme: WeightScheme): string {
  return posix.join(posix.dirname(graph), `${posix.basename(graph, '.onnx')}${SCHEME_SUFFIX[scheme]}.onnx`);
}

/**
 * Writes `outDir` (replacing it; staged beside it and renamed, so no reader sees half a folder): the
 * quantized graph under its scheme's name (no onnx/model.onnx: that name means fp32 to MODEL_DTYPE
 * and to transformers.js), every top-level file of `inDir` (config, tokenizer), and the record.
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
        ...(written.externalDataFile ? { externalData: { file: posix.join(posix.dirname(outGraph), written.externalDataFile), bytes: written.externalDataBytes } } : {}),
      },
      serve: serveChoice(options.scheme, outGraph),
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
