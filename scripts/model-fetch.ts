// CLI: downloads a GPT-2 family ONNX export from the Hugging Face hub into the model cache, with
// resume, checksum verification and a progress bar; prints the folder to set as MODEL_DIR.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { DownloadProgress } from '../service/models/download-file';
import { ModelFetchError } from '../service/models/errors';
import { MODEL_DTYPES, type ModelDtype } from '../service/models/footprint';
import { checkRevision, describe, hubOptionsFromEnv, listRepoFiles, MODEL_ALIASES, resolveRepoId, type HubOptions } from '../service/models/hub-client';
import { cachedModelPath, chooseFiles, fetchModel, OPTIONAL_FILES, REQUIRED_FILES } from '../service/models/hub-fetch';
import { graphCandidates, type GraphChoice } from '../service/models/model-files';
import { DEFAULT_CACHE_DIR } from '../service/models/resolve';
import { validateFlags } from './cli-args';
import { progressBar, type ProgressBar, type ProgressStream } from './progress';

const USAGE = `Usage: npm run model:fetch -- --id gpt2 [--dtype fp32] [--file onnx/X.onnx] [--revision R] [--cache DIR]

Downloads config, tokenizer and the one ONNX graph --dtype picks (with its external data) of a hub
repository into DIR/{owner}/{name}/{revision}/; another dtype later joins the same folder.
  --id        a short name or owner/name (e.g. Xenova/gpt2); short names:
              ${Object.entries(MODEL_ALIASES).map(([alias, repo]) => `${alias} = ${repo}`).join(', ')}
  --dtype     ${MODEL_DTYPES.join(', ')} (default fp32): onnx/model{suffix}.onnx, else
              onnx/decoder_model_merged{suffix}.onnx, as transformers.js names them (MODEL_DTYPE)
  --file      a graph path in the repository, for other layouts; overrides --dtype (MODEL_FILE)
  --revision  branch, tag or commit (default main)
  --cache     cache folder (default $MODEL_CACHE_DIR or ${DEFAULT_CACHE_DIR})
  --dry-run   print the repository and the files it would fetch (the exact list when the hub answers), download nothing
Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (sent as a bearer token).
Interrupted downloads resume where they stopped; every file is checked against the hub's size and checksum.`;

const Args = z.object({
  id: z.string({ error: '--id is required' }).min(1),
  dtype: z.enum(MODEL_DTYPES as unknown as [ModelDtype, ...ModelDtype[]], { error: `--dtype must be one of ${MODEL_DTYPES.join(', ')}` }).default('fp32'),
  file: z.string().min(1).optional(),
  revision: z.string().min(1).default('main'),
  cache: z.string().min(1).optional(),
  'dry-run': z.boolean().default(false),
});

/** One progress bar per file (see scripts/progress.ts), ended when the file is complete. */
export function progressReporter(stream: ProgressStream, now?: () => number): (p: DownloadProgress) => void {
  let current: { file: string; bar: ProgressBar } | undefined;
  return ({ file, received, total }) => {
    if (current?.file !== file) {
      current?.bar.finish();
      current = { file, bar: progressBar(stream, { label: file, total, unit: 'bytes', ...(now ? { now } : {}) }) };
    }
    current.bar.update(received);
    if (received === total) current.bar.finish();
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { id: { type: 'string' }, dtype: { type: 'string' }, file: { type: 'string' }, revision: { type: 'string' }, cache: { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const graph: GraphChoice = { dtype: args.dtype, file: args.file };
  const cacheDir = args.cache ?? process.env.MODEL_CACHE_DIR ?? DEFAULT_CACHE_DIR;
  const hub = hubOptionsFromEnv(process.env);
  if (args['dry-run']) {
    console.log(await fetchPlan(args.id, args.revision, graph, cacheDir, hub));
    return;
  }
  const started = performance.now();
  const fetched = await fetchModel({
    modelId: args.id,
    revision: args.revision,
    graph,
    cacheDir,
    hub,
    onProgress: progressReporter(process.stderr),
  });
  const megabytes = (fetched.files.reduce((sum, f) => sum + f.size, 0) / 1e6).toFixed(1);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`fetched ${fetched.repo}@${fetched.revision} (commit ${fetched.commit}, ${fetched.files.length} files, ${megabytes} MB) in ${seconds} s`);
  console.log(`MODEL_DIR=${fetched.dir}`);
}

/** What a fetch would download: the exact files when the hub lists the repository, else the rule it follows. */
export async function fetchPlan(modelId: string, revision: string, graph: GraphChoice, cacheDir: string, hub: HubOptions): Promise<string> {
  const repo = resolveRepoId(modelId);
  const where = `${repo}@${checkRevision(revision)}`;
  const header = `${modelId === repo ? repo : `${modelId} = ${repo}`}@${revision} -> ${cachedModelPath(cacheDir, repo, revision)}`;
  try {
    const listing = await listRepoFiles(hub, repo, revision);
    const files = chooseFiles(listing.files, where, graph);
    return [`${header} (commit ${listing.commit})`, ...files.map((f) => `  ${f.path} (${(f.size / 1e6).toFixed(1)} MB)`)].join('\n');
  } catch (error) {
    if (!(error instanceof ModelFetchError) || !/Could not reach/.test(error.message)) throw error;
    const graphRule = graph.file ?? `the first of ${graphCandidates(graph.dtype ?? 'fp32').join(', ')}`;
    return [
      header,
      `  ${REQUIRED_FILES.join(', ')}; if listed: ${OPTIONAL_FILES.join(', ')}`,
      `  ${graphRule}, and its external data ({graph}_data, {graph}_data_N) if listed`,
      `  (the hub did not answer, so this is the rule, not the listing: ${describe(error)})`,
    ].join('\n');
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    if (error instanceof ModelFetchError) console.error('Without access to the hub, make a test model instead: npm run model:make -- --preset tiny --out models/tiny');
    process.exitCode = 1;
  });
}
