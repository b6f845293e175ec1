// CLI: rewrites a GPT-2 folder's weight matrix products into 8- or 4-bit MatMulNBits (or
// transformers.js' dynamic int8) and writes the result as a new model folder.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { validateFlags } from './cli-args';
import { quantizeModelDir, RECORD_FILE, WEIGHT_SCHEMES, type WeightScheme } from './onnx-quantize/quantize-model-dir';

const USAGE = `Usage: npm run model:optimize -- --in DIR --out DIR --weights int8|int4|q8 [--block-size 32] [--asymmetric] [--external-data]

Reads DIR's onnx/model.onnx (or onnx/decoder_model_merged.onnx), an fp32 GPT-2 export (model:make's,
or onnx-community's / Optimum's "with past" export, Gemm or MatMul+Add, weights inline or in
.onnx_data), and writes --out (replaced as a whole) with:
  onnx/model_q4.onnx (int4; serve with MODEL_DTYPE=q4, transformers.js' name for MatMulNBits 4-bit) or
  onnx/model_q8_matmulnbits.onnx (int8; no dtype names it: MODEL_FILE=onnx/model_q8_matmulnbits.onnx):
      every MatMul/Gemm on a weight, the tied LM head included, as com.microsoft MatMulNBits
      (block-quantized weights, fp32 activations: a row's result never depends on the other rows of a batch);
  onnx/model_quantized.onnx (q8; MODEL_DTYPE=q8): transformers.js' dynamic int8 (its dtype 'q8'), for comparison;
  config.json, generation_config.json and the tokenizer files, copied;
  ${RECORD_FILE}: source, nodes rewritten, bits, block size, scheme, sizes, and the MODEL_DTYPE or
      MODEL_FILE that serves the graph (MODEL_DIR=the output folder).
  --block-size N    weights per scale (MatMulNBits; a power of two >= 16; default 32)
  --asymmetric      a zero point per block as well as a scale (default: symmetric, see README)
  --external-data   weights in a .onnx_data file beside the graph (default: only above protobuf's 2 GB)
A graph it cannot rewrite is refused with the node and the reason; the output folder is then untouched.`;

const Args = z.object({
  in: z.string({ error: '--in DIR is required' }).min(1),
  out: z.string({ error: '--out DIR is required' }).min(1),
  weights: z.enum(WEIGHT_SCHEMES as [WeightScheme, ...WeightScheme[]], { error: `--weights must be one of ${WEIGHT_SCHEMES.join(', ')}` }),
  'block-size': z.coerce
    .number({ error: '--block-size must be an integer' })
    .int()
    .refine((n) => n >= 16 && (n & (n - 1)) === 0, { message: '--block-size must be a power of two >= 16 (MatMulNBits needs one; 32 is usual)' })
    .default(32),
  asymmetric: z.boolean().default(false),
  'external-data': z.boolean().optional(),
}).refine((a) => a.weights !== 'q8' || (!a.asymmetric && a['block-size'] === 32), {
  message: '--block-size and --asymmetric are MatMulNBits options (int8, int4); q8 quantizes each weight as a whole, symmetrically, as transformers.js does',
});

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      weights: { type: 'string' },
      'block-size': { type: 'string' },
      asymmetric: { type: 'boolean' },
      'external-data': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const started = performance.now();
  const record = await quantizeModelDir(args.in, args.out, {
    scheme: args.weights,
    blockSize: args['block-size'],
    symmetric: !args.asymmetric,
    ...(args['external-data'] === undefined ? {} : { externalData: args['external-data'] }),
  });
  const megabytes = (bytes: number) => (bytes / 1e6).toFixed(1);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const serve = Object.entries(record.serve).map(([name, value]) => `${name}=${value}`).join(' ');
  console.log(
    `wrote ${args.out}/${record.output.graph} (${record.nodesRewritten.length} nodes rewritten, weights ${megabytes(record.initializerBytes.before)} -> ` +
      `${megabytes(record.initializerBytes.after)} MB, file ${megabytes(record.output.bytes + (record.output.externalData?.bytes ?? 0))} MB) in ${seconds} s; ` +
      `serve it with MODEL_DIR=${args.out} ${serve}`,
  );
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
