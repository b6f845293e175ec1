// Fetches the files of a GPT-2 ONNX export that the engine needs (config, tokenizer, the one ONNX
// graph MODEL_DTYPE / MODEL_FILE picks and its external data) from a Hugging Face hub repository into
// `{cache}/{repo}/{revision}/`. Other dtypes of the same revision are added to the same folder.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ModelLoadError } from '../engine/errors';
import { parseGpt2Config } from '../engine/model-config';
import { downloadFile, type DownloadProgress } from './download-file';
import { ModelFetchError } from './errors';
import { authHeaders, checkRevision, fileUrl, listRepoFiles, resolveRepoId, type HubOptions, type RepoFile } from './hub-client';
import { selectGraph, type GraphChoice } from './model-files';

/** Written last: a cache folder without it is incomplete (and is resumed, not used). */
export const COMPLETE_MARKER = '.fetch-complete.json';

export const REQUIRED_FILES = ['config.json', 'tokenizer.json'];
/** tokenizer_config.json carries special tokens and the chat template; chat_template.jinja is where transformers >= 4.43 saves it. */
export const OPTIONAL_FILES = ['tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'vocab.json', 'merges.txt', 'vocab.txt'];

export interface FetchModelOptions {
  /** `gpt2` (= onnx-community/gpt2-ONNX, see MODEL_ALIASES) or a hub repository `owner/name`. */
  readonly modelId: string;
  /** @default 'main' */
  readonly revision?: string;
  /** MODEL_DTYPE / MODEL_FILE: which graph to download. @default fp32 */
  readonly graph?: GraphChoice;
  readonly cacheDir: string;
  readonly hub: HubOptions;
  /** @default 3 */
  readonly retries?: number;
  readonly onProgress?: (progress: DownloadProgress) => void;
}

export interface FetchedModel {
  readonly dir: string;
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  readonly files: readonly RepoFile[];
}

const Marker = z.object({ repo: z.string(), revision: z.string(), commit: z.string(), files: z.array(z.object({ path: z.string(), size: z.number() })) });

/** `{cacheDir}/{owner}/{name}/{revision}`: where a fetched revision lives. */
export function cachedModelPath(cacheDir: string, modelId: string, revision: string): string {
  return join(cacheDir, resolveRepoId(modelId), encodeURIComponent(checkRevision(revision)));
}

type Marker = z.infer<typeof Marker>;

async function readMarker(dir: string): Promise<Marker | undefined> {
  return readFile(join(dir, COMPLETE_MARKER), 'utf8').then(
    (text) => {
      const parsed = Marker.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    },
    () => undefined,
  );
}

/** The cached folder if a previous fetch completed with the graph `graph` picks (and its data), else undefined. */
export async function findCachedModel(cacheDir: string, modelId: string, revision: string, graph: GraphChoice = {}): Promise<string | undefined> {
  const dir = cachedModelPath(cacheDir, modelId, revision);
  const marker = await readMarker(dir);
  if (!marker) return undefined;
  const paths = marker.files.map((f) => f.path);
  const selected = selectGraph(paths, graph);
  if ('problem' in selected) return undefined;
  return REQUIRED_FILES.every((path) => paths.includes(path)) ? dir : undefined;
}

export async function fetchModel(options: FetchModelOptions): Promise<FetchedModel> {
  const repo = resolveRepoId(options.modelId);
  const revision = checkRevision(options.revision ?? 'main');
  const where = `${repo}@${revision}`;
  const dir = cachedModelPath(options.cacheDir, repo, revision);
  const listing = await listRepoFiles(options.hub, repo, revision);
  const files = chooseFiles(listing.files, where, options.graph);

  await mkdir(dir, { recursive: true });
  // config.json first: a repository of another architecture is refused before gigabytes of weights.
  for (const file of files) {
    const target = join(dir, file.path);
    if (!(await isComplete(target, file.size))) {
      await downloadFile({
        url: fileUrl(options.hub, repo, revision, file.path),
        headers: authHeaders(options.hub),
        file,
        target,
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    }
    if (file.path === 'config.json') await checkArchitecture(target, where);
  }
  // Graphs of other dtypes fetched before from the same commit stay usable from this folder.
  const previous = await readMarker(dir);
  const kept = previous?.commit === listing.commit ? previous.files.filter((f) => !files.some((g) => g.path === f.path)) : [];
  const marked = [...kept, ...files.map(({ path, size }) => ({ path, size }))];
  await writeFile(join(dir, COMPLETE_MARKER), JSON.stringify({ repo, revision, commit: listing.commit, files: marked }, null, 2));
  return { dir, repo, revision, commit: listing.commit, files };
}

async function checkArchitecture(configPath: string, where: string): Promise<void> {
  try {
    parseGpt2Config(JSON.parse(await readFile(configPath, 'utf8')), `${where}: config.json`);
  } catch (error) {
    const message = error instanceof ModelLoadError ? error.message : `${where}: config.json is not valid JSON (${(error as Error).message})`;
    throw new ModelFetchError(`${message}; nothing else was downloaded`);
  }
}

/**
 * config.json first, then the tokenizer files, the graph MODEL_DTYPE / MODEL_FILE picks and its
 * external data files; no other graph.
 */
export function chooseFiles(files: readonly RepoFile[], where: string, graph: GraphChoice = {}): RepoFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const missing = REQUIRED_FILES.filter((path) => !byPath.has(path));
  if (missing.length > 0) throw new ModelFetchError(`${where} has no ${missing.join(', ')} (expected a Hugging Face export of a GPT-2 model with its tokenizer)`);
  const selected = selectGraph([...byPath.keys()], graph);
  if ('problem' in selected) throw new ModelFetchError(`${where} ${selected.problem} (expected an ONNX export, like onnx-community/gpt2-ONNX or Xenova/gpt2)`);
  const wanted = [...REQUIRED_FILES, ...OPTIONAL_FILES.filter((path) => byPath.has(path)), selected.graph, ...selected.externalData];
  return wanted.map((path) => byPath.get(path) as RepoFile);
}

/** Files reach their final name only after verification, so a matching size means done. */
async function isComplete(path: string, size: number): Promise<boolean> {
  return stat(path).then((s) => s.isFile() && s.size === size, () => false);
}
