// CLI: generates text from a prompt with the local engine and streams it to stdout (the engine's
// own front door until the HTTP service runs; the same code path as the service's requests).
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createEngine } from '../service/engine/engine';
import { createSamplingParams } from '../service/engine/params';
import type { SamplingParamsInput } from '../service/engine/types';
import { MODEL_DTYPES, type ModelDtype } from '../service/models/footprint';
import { validateFlags } from './cli-args';

const USAGE = `Usage: npm run generate -- --model DIR --prompt TEXT [options]

Streams the completion of TEXT to stdout; timings go to stderr.
  --model DIR          model folder (e.g. from npm run model:make -- --preset tiny --out models/tiny)
  --dtype D            which of its graphs: ${MODEL_DTYPES.join(', ')} (default fp32; MODEL_DTYPE)
  --file PATH          a graph path inside the folder, overriding --dtype (MODEL_FILE)
  --prompt TEXT        the prompt (may be empty: generation then starts from the model's EOS token)
  --max-tokens N       tokens to generate (default 16)
  --temperature T      0 = greedy (default 1)
  --top-p P  --top-k K  --min-p P  --repetition-penalty R
  --seed N             reproducible sampling
  --stop S             stop string (repeatable, up to 4)
  --n N                independent choices (printed one after another)
  --num-beams N        beam search with N beams (--length-penalty L, default 1)
  --ignore-eos         do not stop at the model's EOS token
  --threads N          onnxruntime intra-op threads (default: all cores)`;

const Args = z.object({
  model: z.string({ error: '--model DIR is required' }).min(1),
  prompt: z.string({ error: '--prompt TEXT is required' }),
  dtype: z.enum(MODEL_DTYPES as unknown as [ModelDtype, ...ModelDtype[]], { error: `--dtype must be one of ${MODEL_DTYPES.join(', ')}` }).default('fp32'),
  file: z.string().min(1).optional(),
  threads: z.coerce.number().int().positive().optional(),
});

const NUMBER_FLAGS = {
  'max-tokens': 'maxTokens',
  temperature: 'temperature',
  'top-p': 'topP',
  'top-k': 'topK',
  'min-p': 'minP',
  'repetition-penalty': 'repetitionPenalty',
  seed: 'seed',
  n: 'n',
  'num-beams': 'numBeams',
  'length-penalty': 'lengthPenalty',
} as const satisfies Record<string, keyof SamplingParamsInput>;

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      dtype: { type: 'string' },
      file: { type: 'string' },
      threads: { type: 'string' },
      stop: { type: 'string', multiple: true },
      'ignore-eos': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(Object.keys(NUMBER_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
    },
  });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const input: Record<string, unknown> = { stop: values.stop ?? null, stopOnEos: values['ignore-eos'] !== true };
  for (const [flag, field] of Object.entries(NUMBER_FLAGS)) {
    const raw = (values as Record<string, unknown>)[flag];
    if (typeof raw === 'string') input[field] = Number(raw);
  }
  const engine = await createEngine({
    modelDir: args.model,
    dtype: args.dtype,
    file: args.file,
    ...(args.threads ? { intraOpThreads: args.threads } : {}),
  });
  try {
    const params = createSamplingParams(input as SamplingParamsInput, { vocabSize: engine.tokenizer.vocabSize });
    const promptIds = engine.tokenizer.encode(args.prompt);
    const started = performance.now();
    let firstToken = 0;
    let tokens = 0;
    // With one streamed choice text goes out as it is generated; several choices are printed in turn.
    const texts: string[] = [];
    const streaming = params.n === 1;
    for await (const event of engine.generate({ promptIds, params })) {
      if (event.type === 'delta') {
        firstToken ||= performance.now() - started;
        if (streaming) process.stdout.write(event.text);
        else texts[event.choice] = (texts[event.choice] ?? '') + event.text;
      } else if (event.type === 'finish') {
        tokens += event.completionTokens;
        if (!streaming) process.stdout.write(`--- choice ${event.choice} (${event.reason}) ---\n${texts[event.choice] ?? ''}\n`);
        else process.stderr.write(`\n[finish: ${event.reason}]\n`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `[${promptIds.length} prompt tokens, ${tokens} generated in ${seconds.toFixed(2)} s: ${(tokens / seconds).toFixed(1)} tok/s, first text after ${firstToken.toFixed(0)} ms]\n`,
    );
  } finally {
    await engine.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
});
