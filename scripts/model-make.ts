// CLI: writes a GPT-2-architecture ONNX model with seeded random weights and a real tokenizer in the
// Hugging Face folder layout, for tests and benchmarks where no real weights are reachable.
import { readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { EXPORT_LAYOUTS, GRAPH_PRECISIONS, type ExportLayout, type GraphPrecision } from './gpt2-onnx/gpt2-graph';
import { PRESET_NAMES, WEIGHT_INITS, type PresetName, type WeightInit } from './gpt2-onnx/presets';
import { graphFile, TOKENIZER_KINDS, writeModelDir, type TokenizerKind } from './gpt2-onnx/write-model-dir';
import { validateFlags } from './cli-args';
import { addQuantizedGraph } from './onnx-quantize/quantize-model-dir';
import { progressBar } from './progress';

const USAGE = `Usage: npm run model:make -- --preset NAME --out DIR [--seed N] [--export with-past|merged|preallocated-kv]
       [--dtype fp32|fp16|fp16-io32|q8] [--external-data] [--tokenizer gpt2|wordpiece-zh] [--chat-template FILE] [--init fixed|fan-in]

Writes DIR/config.json, generation_config.json, tokenizer files and one ONNX graph: a GPT-2
(Optimum "with past" signature) with deterministic random weights. Presets:
  tiny         2 layers, 64 dims, 4 heads (about 13 MB), for tests
  distilgpt2   6 layers, 768 dims, 12 heads (82M parameters)
  gpt2         12 layers, 768 dims, 12 heads (124M parameters, about 500 MB in fp32)
  gpt2-medium  24 layers, 1024 dims, 16 heads (355M)
  gpt2-large   36 layers, 1280 dims, 20 heads (774M; fp32 needs --external-data)
  gpt2-xl      48 layers, 1600 dims, 25 heads (1.56B; needs --external-data)
--seed defaults to 42; the same options give byte-identical files.
--export merged writes Xenova's signature (onnx/decoder_model_merged*.onnx: use_cache_branch, no position_ids).
--export preallocated-kv writes the same weights as onnx/model*.onnx with the preallocated-cache signature
  (cache.{i}.key/value buffers read in place, new.{i}.key/value out): the engine then keeps the cache in
  buffers it writes each step's keys and values into instead of copying the past every step (README
  "KV cache strategies"). fp32 or fp16 only.
--dtype fp16 writes fp16 weights with fp16 inputs and outputs; fp16-io32 fp16 weights with fp32 inputs
  and outputs through Cast nodes (what the hub's model_fp16.onnx files are). Both are named *_fp16.onnx,
  so MODEL_DTYPE=fp16 picks them.
--dtype q8 writes the fp32 graph and, beside it, onnx/{graph}_quantized.onnx: dynamic int8 as transformers.js'
  scripts/quantize.py makes it (its dtype 'q8'; MODEL_DTYPE=q8 picks it). npm run model:optimize makes the
  engine's own 8- and 4-bit graphs.
--init fan-in draws the linear layers' weights at std 1/sqrt(fan_in) instead of the presets' 0.3, so that
  activations stay on one scale through the layers as in a trained model: for judging a quantization's
  error, which the default weights amplify layer after layer.
--external-data writes the weights to {graph}_data beside the graph (the ONNX external-data format).
--tokenizer wordpiece-zh writes a Chinese character WordPiece vocabulary (BERT's format, 21k tokens)
  instead of GPT-2's byte-level BPE; --chat-template FILE puts a Jinja chat template in tokenizer_config.json.`;

/** The generator's precisions, and q8: the fp32 graph quantized afterwards, as the hub's repositories carry both. */
const MAKE_DTYPES = [...GRAPH_PRECISIONS, 'q8'] as const;

const Args = z.object({
  preset: z.enum(PRESET_NAMES as [PresetName, ...PresetName[]], { error: `--preset must be one of ${PRESET_NAMES.join(', ')}` }),
  out: z.string({ error: '--out DIR is required' }).min(1),
  seed: z.coerce.number({ error: '--seed must be an integer' }).int().nonnegative().default(42),
  export: z.enum(EXPORT_LAYOUTS as [ExportLayout, ...ExportLayout[]], { error: `--export must be one of ${EXPORT_LAYOUTS.join(', ')}` }).default('with-past'),
  dtype: z.enum(MAKE_DTYPES, { error: `--dtype must be one of ${MAKE_DTYPES.join(', ')}` }).default('fp32'),
  'external-data': z.boolean().default(false),
  tokenizer: z.enum(TOKENIZER_KINDS as [TokenizerKind, ...TokenizerKind[]], { error: `--tokenizer must be one of ${TOKENIZER_KINDS.join(', ')}` }).default('gpt2'),
  'chat-template': z.string().min(1).optional(),
  init: z.enum(WEIGHT_INITS as [WeightInit, ...WeightInit[]], { error: `--init must be one of ${WEIGHT_INITS.join(', ')}` }).default('fixed'),
});

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      preset: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      export: { type: 'string' },
      dtype: { type: 'string' },
      'external-data': { type: 'boolean' },
      tokenizer: { type: 'string' },
      'chat-template': { type: 'string' },
      init: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const { preset, seed, export: layout, dtype, tokenizer } = args;
  const precision: GraphPrecision = dtype === 'q8' ? 'fp32' : dtype;
  const chatTemplate = args['chat-template'] === undefined ? undefined : await readFile(args['chat-template'], 'utf8');
  const out = resolve(args.out);
  // Written beside the target and renamed, so a reader never sees a half-written model folder.
  const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  const started = performance.now();
  try {
    let bar: ReturnType<typeof progressBar> | undefined;
    const written = await writeModelDir(staging, {
      preset,
      seed,
      layout,
      precision,
      externalData: args['external-data'],
      tokenizer,
      weightInit: args.init,
      ...(chatTemplate === undefined ? {} : { chatTemplate }),
      onProgress: (progress) => {
        if (progress.stage === 'weights') {
          bar ??= progressBar(process.stderr, { label: 'weights', total: progress.total });
          return bar.update(progress.drawn);
        }
        bar?.finish();
        process.stderr.write(`encoding and writing ${progress.graph}...\n`);
      },
    });
    const quantized = dtype === 'q8' ? await addQuantizedGraph(staging, graphFile(layout, 'fp32'), 'q8') : undefined;
    await rm(out, { recursive: true, force: true });
    await rename(staging, out);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const megabytes = (written.onnxBytes / 1e6).toFixed(1);
    console.log(`wrote ${out} (preset ${preset}, seed ${seed}, ${written.parameters} parameters, ${written.graph}${args['external-data'] ? ' + external data' : ''} ${megabytes} MB${quantized ? ` and ${quantized}` : ''}) in ${seconds} s`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
