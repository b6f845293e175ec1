// CLI: downloads a GPT-2 family ONNX export from the Hugging Face hub into the model cache, with
// resume, checksum verification and a progress bar; prints the folder to set as MODEL_DIR.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { DownloadProgress } from '../service/models/download-file';
import { ModelFetchError } from '../service/models/errors';
import { hubOptionsFromEnv } from '../service/models/hub-client';
import { fetchModel } from '../service/models/hub-fetch';
import { DEFAULT_CACHE_DIR } from '../service/models/resolve';
import { validateFlags } from './cli-args';
import { progressBar, type ProgressBar, type ProgressStream } from './progress';

const USAGE = `Usage: npm run model:fetch -- --id gpt2 [--revision R] [--cache DIR]

Downloads config, tokenizer and one ONNX graph (onnx/model.onnx, else onnx/decoder_model_merged.onnx,
with its external data) of a hub repository into DIR/{owner}/{name}/{revision}/.
  --id        gpt2 (= onnx-community/gpt2), distilgpt2 (= Xenova/distilgpt2), or owner/name (e.g. Xenova/gpt2)
  --revision  branch, tag or commit (default main)
  --cache     cache folder (default $MODEL_CACHE_DIR or ${DEFAULT_CACHE_DIR})
Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (sent as a bearer token).
Interrupted downloads resume where they stopped; every file is checked against the hub's size and checksum.`;

const Args = z.object({
  id: z.string({ error: '--id is required' }).min(1),
  revision: z.string().min(1).default('main'),
  cache: z.string().min(1).optional(),
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
    options: { id: { type: 'string' }, revision: { type: 'string' }, cache: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const started = performance.now();
  const fetched = await fetchModel({
    modelId: args.id,
    revision: args.revision,
    cacheDir: args.cache ?? process.env.MODEL_CACHE_DIR ?? DEFAULT_CACHE_DIR,
    hub: hubOptionsFromEnv(process.env),
    onProgress: progressReporter(process.stderr),
  });
  const megabytes = (fetched.files.reduce((sum, f) => sum + f.size, 0) / 1e6).toFixed(1);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`fetched ${fetched.repo}@${fetched.revision} (commit ${fetched.commit}, ${fetched.files.length} files, ${megabytes} MB) in ${seconds} s`);
  console.log(`MODEL_DIR=${fetched.dir}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    if (error instanceof ModelFetchError) console.error('Without access to the hub, make a test model instead: npm run model:make -- --preset tiny --out models/tiny');
    process.exitCode = 1;
  });
}
