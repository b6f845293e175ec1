// Fetches the files of a GPT-2 ONNX export that the engine needs (config, tokenizer, one ONNX graph
// and its external data) from a Hugging Face hub repository into `{cache}/{repo}/{revision}/`.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ONNX_CANDIDATES } from '../engine/model';
import { downloadFile, type DownloadProgress } from './download-file';
import { ModelFetchError } from './errors';
import { authHeaders, checkRevision, fileUrl, listRepoFiles, resolveRepoId, type HubOptions, type RepoFile } from './hub-client';

/** Written last: a cache folder without it is incomplete (and is resumed, not used). */
export const COMPLETE_MARKER = '.fetch-complete.json';

const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL_FILES = ['generation_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json'];

export interface FetchModelOptions {
  /** `gpt2` (= onnx-community/gpt2) or a hub repository `owner/name`. */
  readonly modelId: string;
  /** @default 'main' */
  readonly revision?: string;
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

/** The cached folder if a previous fetch completed, else undefined. */
export async function findCachedModel(cacheDir: string, modelId: string, revision: string): Promise<string | undefined> {
  const dir = cachedModelPath(cacheDir, modelId, revision);
  const marker = await readFile(join(dir, COMPLETE_MARKER), 'utf8').then(
    (text) => Marker.safeParse(JSON.parse(text)).success,
    () => false,
  );
  return marker ? dir : undefined;
}

export async function fetchModel(options: FetchModelOptions): Promise<FetchedModel> {
  const repo = resolveRepoId(options.modelId);
  const revision = checkRevision(options.revision ?? 'main');
  const dir = cachedModelPath(options.cacheDir, repo, revision);
  const listing = await listRepoFiles(options.hub, repo, revision);
  const files = chooseFiles(listing.files, `${repo}@${revision}`);

  await mkdir(dir, { recursive: true });
  for (const file of files) {
    const target = join(dir, file.path);
    if (await isComplete(target, file.size)) continue;
    await downloadFile({
      url: fileUrl(options.hub, repo, revision, file.path),
      headers: authHeaders(options.hub),
      file,
      target,
      ...(options.retries === undefined ? {} : { retries: options.retries }),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }
  const fetched = { dir, repo, revision, commit: listing.commit, files };
  await writeFile(join(dir, COMPLETE_MARKER), JSON.stringify({ repo, revision, commit: listing.commit, files: files.map(({ path, size }) => ({ path, size })) }, null, 2));
  return fetched;
}

/** The config and tokenizer files, the first ONNX graph the loader accepts, and its external data files. */
export function chooseFiles(files: readonly RepoFile[], where: string): RepoFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const missing = REQUIRED_FILES.filter((path) => !byPath.has(path));
  if (missing.length > 0) throw new ModelFetchError(`${where} has no ${missing.join(', ')} (expected a Hugging Face export of a GPT-2 model with its tokenizer)`);
  const onnxPath = ONNX_CANDIDATES.find((path) => byPath.has(path));
  if (onnxPath === undefined) throw new ModelFetchError(`${where} has no ${ONNX_CANDIDATES.join(' or ')} (expected an ONNX export, like onnx-community/gpt2 or Xenova/gpt2)`);
  // External weights sit beside the graph as model.onnx_data (Optimum) or model.onnx.data, possibly in shards.
  const externalData = files.filter((f) => f.path.startsWith(`${onnxPath}_data`) || f.path.startsWith(`${onnxPath}.data`));
  const wanted = [...REQUIRED_FILES, ...OPTIONAL_FILES.filter((path) => byPath.has(path)), onnxPath];
  return [...wanted.map((path) => byPath.get(path) as RepoFile), ...externalData];
}

/** Files reach their final name only after verification, so a matching size means done. */
async function isComplete(path: string, size: number): Promise<boolean> {
  return stat(path).then((s) => s.isFile() && s.size === size, () => false);
}
