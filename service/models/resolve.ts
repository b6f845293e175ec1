// Decides which model folder the service loads: MODEL_DIR if set, else a completed copy in the
// cache, else a fresh fetch from the hub; when none can be had, says how to get a model.
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ModelLoadError } from '../engine/errors';
import { findGraph } from './model-files';
import { readConfig } from '../engine/model-config';
import { ModelFetchError } from './errors';
import { describe, hubOptionsFromEnv, resolveRepoId, type HubOptions } from './hub-client';
import { cachedModelPath, fetchModel, findCachedModel } from './hub-fetch';
import type { GraphChoice } from './model-files';

export const DEFAULT_CACHE_DIR = join(homedir(), '.cache', 'gpt2-openai-toolkit');

const GET_A_MODEL = 'Set MODEL_DIR to a local Hugging Face-layout model folder, or make a test model with npm run model:make -- --preset tiny --out models/tiny and set MODEL_DIR=models/tiny';

export interface ResolveModelOptions {
  /** MODEL_DIR: used as is (after a quick check) when set. */
  readonly modelDir?: string | undefined;
  /** MODEL_ID: `gpt2` or a hub repository `owner/name`. */
  readonly modelId: string;
  /** MODEL_DTYPE / MODEL_FILE: the graph that must be there (fetched if not). @default fp32 */
  readonly graph?: GraphChoice;
  /** MODEL_REVISION. @default 'main' */
  readonly revision?: string;
  /** MODEL_CACHE_DIR. @default ~/.cache/gpt2-openai-toolkit */
  readonly cacheDir?: string | undefined;
  /** Fetch from the hub when the cache has no complete copy. @default true */
  readonly allowDownload?: boolean;
  /** @default from HF_ENDPOINT and HF_TOKEN */
  readonly hub?: HubOptions;
  readonly log?: Logger;
}

export async function resolveModelDir(options: ResolveModelOptions): Promise<string> {
  const graph = options.graph ?? {};
  if (options.modelDir !== undefined) {
    await checkModelDir(options.modelDir, graph);
    return options.modelDir;
  }
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const revision = options.revision ?? 'main';
  const repo = resolveRepoId(options.modelId);
  const cached = await findCachedModel(cacheDir, repo, revision, graph);
  if (cached !== undefined) {
    options.log?.info({ modelDir: cached }, 'using cached model');
    return cached;
  }
  if (options.allowDownload === false) {
    throw new ModelFetchError(`MODEL_DIR is not set and ${cachedModelPath(cacheDir, repo, revision)} holds no complete copy of ${repo}@${revision} (${describeGraph(graph)}), and downloading is disabled. ${GET_A_MODEL}.`);
  }
  const hub = options.hub ?? hubOptionsFromEnv(process.env);
  options.log?.info({ repo, revision, graph: describeGraph(graph), endpoint: hub.endpoint, cacheDir }, 'fetching model from the hub');
  let lastLogged = 0;
  try {
    const fetched = await fetchModel({
      modelId: repo,
      revision,
      graph,
      cacheDir,
      hub,
      onProgress: ({ file, received, total }) => {
        // One log line per file start and end, and at most one every 5 s in between.
        const now = Date.now();
        if (received === 0 || received === total || now - lastLogged > 5000) {
          lastLogged = now;
          options.log?.info({ file, received, total }, 'downloading');
        }
      },
    });
    options.log?.info({ modelDir: fetched.dir, commit: fetched.commit }, 'model fetched');
    return fetched.dir;
  } catch (error) {
    throw new ModelFetchError(`Could not fetch ${repo}@${revision} from ${hub.endpoint}: ${describe(error)}. ${GET_A_MODEL}.`);
  }
}

function describeGraph(graph: GraphChoice): string {
  return graph.file !== undefined ? `MODEL_FILE=${graph.file}` : `MODEL_DTYPE=${graph.dtype ?? 'fp32'}`;
}

/** A cheap check before the engine loads it: the folder, a GPT-2 config.json and the graph asked for are there. */
async function checkModelDir(dir: string, graph: GraphChoice): Promise<void> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new ModelLoadError(`MODEL_DIR=${dir} is not a folder (${GET_A_MODEL.replace('Set MODEL_DIR to', 'point it at')})`);
  await readConfig(dir);
  await findGraph(dir, graph);
}
