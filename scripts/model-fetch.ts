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

/** A bar redrawn in place on a terminal; elsewhere (CI logs) a line per file and per 25%. */
export function progressReporter(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>): (p: DownloadProgress) => void {
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  let lastQuarter = -1;
  let lastFile = '';
  return ({ file, received, total }) => {
    const fraction = total === 0 ? 1 : received / total;
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      stream.write(`\r${file} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mb(received)}/${mb(total)} MB`);
      if (received === total) stream.write('\n');
      return;
    }
    if (file !== lastFile) {
      lastFile = file;
      lastQuarter = -1;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter !== lastQuarter) {
      lastQuarter = quarter;
      stream.write(`${file}: ${mb(received)}/${mb(total)} MB (${Math.round(fraction * 100)}%)\n`);
    }
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
