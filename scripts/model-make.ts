// CLI: writes a GPT-2-architecture ONNX model with seeded random weights and GPT-2's real tokenizer
// in the Hugging Face folder layout, for tests and benchmarks where no real weights are reachable.
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { EXPORT_LAYOUTS, type ExportLayout } from './gpt2-onnx/gpt2-graph';
import { PRESET_NAMES, type PresetName } from './gpt2-onnx/presets';
import { ONNX_FILE, writeModelDir } from './gpt2-onnx/write-model-dir';
import { validateFlags } from './cli-args';
import { addQuantizedGraph } from './onnx-quantize/quantize-model-dir';

const USAGE = `Usage: npm run model:make -- --preset tiny|gpt2 --out DIR [--seed N] [--export with-past|merged] [--dtype fp32|q8]

Writes DIR/config.json, generation_config.json, tokenizer files and onnx/model.onnx: a GPT-2
(Optimum "with past" signature) with deterministic random weights. Presets:
  tiny   2 layers, 64 dims, 4 heads (about 13 MB), for tests
  gpt2   12 layers, 768 dims, 12 heads, 124M parameters (about 500 MB), GPT-2-small's shape
--seed defaults to 42; the same preset and seed give byte-identical files.
--export merged writes onnx/decoder_model_merged.onnx with Xenova's signature instead
(use_cache_branch input, no position_ids).
--dtype q8 also writes onnx/model_quantized.onnx beside the fp32 graph: dynamic int8 as
transformers.js' tooling makes it (its dtype 'q8'; see npm run model:optimize for the engine's own).`;

const Args = z.object({
  preset: z.enum(PRESET_NAMES as [PresetName, ...PresetName[]], { error: `--preset must be one of ${PRESET_NAMES.join(', ')}` }),
  out: z.string({ error: '--out DIR is required' }).min(1),
  seed: z.coerce.number({ error: '--seed must be an integer' }).int().nonnegative().default(42),
  export: z.enum(EXPORT_LAYOUTS as [ExportLayout, ...ExportLayout[]], { error: `--export must be one of ${EXPORT_LAYOUTS.join(', ')}` }).default('with-past'),
  dtype: z.enum(['fp32', 'q8'], { error: '--dtype must be one of fp32, q8' }).default('fp32'),
});

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { preset: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, export: { type: 'string' }, dtype: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const { preset, seed, export: layout } = args;
  const out = resolve(args.out);
  // Written beside the target and renamed, so a reader never sees a half-written model folder.
  const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  const started = performance.now();
  try {
    const written = await writeModelDir(staging, { preset, seed, layout });
    if (args.dtype === 'q8') await addQuantizedGraph(staging, ONNX_FILE[layout], 'q8');
    await rm(out, { recursive: true, force: true });
    await rename(staging, out);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const megabytes = (written.onnxBytes / 1e6).toFixed(1);
    console.log(`wrote ${out} (preset ${preset}, seed ${seed}, ${written.parameters} parameters, ${ONNX_FILE[layout]} ${megabytes} MB) in ${seconds} s`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
