// Which ONNX graph of a model repository or folder to serve: MODEL_DTYPE picks a file the way
// transformers.js' `dtype` does (a suffix on onnx/model.onnx, or on Xenova's older
// onnx/decoder_model_merged.onnx), MODEL_FILE names one outright; plus the graph's external data.
import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ModelLoadError } from '../engine/errors';
import { MAKE_HINT } from '../engine/model-config';
import { MODEL_DTYPES, type ModelDtype } from './footprint';

/** transformers.js' DEFAULT_DTYPE_SUFFIX_MAPPING (src/utils/dtypes.js) for the dtypes we serve. */
export const DTYPE_SUFFIX: Readonly<Record<ModelDtype, string>> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

/**
 * Base names tried in order: onnx-community's and transformers.js v3's `model`, then the merged
 * decoder of transformers.js v2 exports (Xenova/*), which v3 repositories often still carry.
 */
export const GRAPH_BASENAMES = ['model', 'decoder_model_merged'] as const;

export interface GraphChoice {
  /** MODEL_DTYPE. @default 'fp32' */
  readonly dtype?: ModelDtype;
  /** MODEL_FILE: a path inside the repository; overrides `dtype`. */
  readonly file?: string | undefined;
}

export interface SelectedGraph {
  /** The graph's path, relative to the repository root (forward slashes). */
  readonly graph: string;
  /** Its external data files, in the listing's order (`model.onnx_data`, `model.onnx_data_1`, ...). */
  readonly externalData: readonly string[];
}

/** The paths `dtype` may be found at, in the order they are tried. */
export function graphCandidates(dtype: ModelDtype): string[] {
  return GRAPH_BASENAMES.map((base) => `onnx/${base}${DTYPE_SUFFIX[dtype]}.onnx`);
}

/**
 * Picks the graph among `paths` (a repository listing or a folder's files) and the external data
 * files beside it. Returns a description of the problem when there is none to pick, for the caller
 * to put into its own error (fetch or load), e.g. "has no fp16 graph (...); it has: fp32, q8".
 */
export function selectGraph(paths: readonly string[], choice: GraphChoice): SelectedGraph | { readonly problem: string } {
  const present = new Set(paths);
  if (choice.file !== undefined) {
    if (!present.has(choice.file)) return { problem: `has no MODEL_FILE=${choice.file}${describeGraphs(paths)}` };
    return { graph: choice.file, externalData: externalDataOf(paths, choice.file) };
  }
  const dtype = choice.dtype ?? 'fp32';
  const candidates = graphCandidates(dtype);
  const graph = candidates.find((path) => present.has(path));
  if (graph === undefined) {
    return { problem: `has no ${dtype} graph (looked for ${candidates.join(', ')})${describeGraphs(paths)}` };
  }
  return { graph, externalData: externalDataOf(paths, graph) };
}

/** The dtypes whose graph `paths` holds, in MODEL_DTYPES order. */
export function availableDtypes(paths: readonly string[]): ModelDtype[] {
  const present = new Set(paths);
  return MODEL_DTYPES.filter((dtype) => graphCandidates(dtype).some((path) => present.has(path)));
}

/**
 * External data sits beside the graph as `{graph}_data`, chunked as `{graph}_data_1`, ... (onnx's
 * save_as_external_data and transformers.js' getExternalDataChunkNames), or as `{graph}.data`.
 */
function externalDataOf(paths: readonly string[], graph: string): string[] {
  const pattern = new RegExp(`^${escapeRegExp(graph)}(?:_data(?:_\\d+)?|\\.data)$`);
  return paths.filter((path) => pattern.test(path));
}

/** "; it has: fp32, q8 (set MODEL_DTYPE to one of them), other graphs: onnx/x.onnx (MODEL_FILE)". */
function describeGraphs(paths: readonly string[]): string {
  const dtypes = availableDtypes(paths);
  const known = new Set(MODEL_DTYPES.flatMap(graphCandidates));
  const others = paths.filter((path) => path.endsWith('.onnx') && !known.has(path));
  const parts: string[] = [];
  parts.push(dtypes.length > 0 ? `it has: ${dtypes.join(', ')} (set MODEL_DTYPE to one of them)` : 'it has no graph named as transformers.js names them');
  if (others.length > 0) parts.push(`other ONNX files: ${others.join(', ')} (set MODEL_FILE to use one)`);
  return `; ${parts.join('; ')}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The graph MODEL_DTYPE / MODEL_FILE names among the folder's files, with its external data. */
export async function findGraph(dir: string, choice: GraphChoice): Promise<SelectedGraph> {
  const paths = await graphFolderFiles(dir, choice.file);
  const selected = selectGraph(paths, choice);
  if ('problem' in selected) throw new ModelLoadError(`MODEL_DIR=${dir} ${selected.problem} (expected an ONNX export of a GPT-2 model; ${MAKE_HINT})`);
  return selected;
}

/** Files of `onnx/`, of the root, and of MODEL_FILE's folder, as paths relative to `dir`. */
async function graphFolderFiles(dir: string, file: string | undefined): Promise<string[]> {
  const folders = new Set(['', 'onnx', ...(file === undefined ? [] : [posix.dirname(file) === '.' ? '' : posix.dirname(file)])]);
  const listed = await Promise.all(
    [...folders].map(async (folder) => {
      const entries = await readdir(join(dir, folder), { withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isFile()).map((e) => (folder === '' ? e.name : `${folder}/${e.name}`));
    }),
  );
  return listed.flat().sort();
}
