// CLI: rewrites a GPT-2 model folder's fp32 Concat-cache graph into the preallocated-kv graph (the
// same parameters, read by name; model:make --export preallocated-kv's signature), beside the
// folder's config and tokenizer files, so the engine runs it with its preallocated KV cache.
import { copyFile, mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { onnx } from 'onnx-proto';
import { z } from 'zod';
import { findGraph } from '../service/models/model-files';
import { readConfig } from '../service/engine/model-config';
import { validateFlags } from './cli-args';
import { moveToExternalData } from './gpt2-onnx/external-data';
import { buildGpt2Graph } from './gpt2-onnx/gpt2-graph';
import { graphParameters, ParameterReadError } from './gpt2-onnx/graph-parameters';
import { MARKER_FILE } from './gpt2-onnx/write-model-dir';

const USAGE = `Usage: npm run model:preallocate-kv -- --in DIR --out DIR

Reads DIR's config.json and its fp32 graph (onnx/model.onnx, or the merged decoder), takes GPT-2's
parameters from it by their PyTorch names (transformer.wte.weight, transformer.h.0.attn.c_attn.weight,
...: model:make's graphs keep them), and writes OUT with the same config and tokenizer files and
onnx/model.onnx in the preallocated-kv signature (README "KV cache strategies"), its weights in
external data when the graph had them there or they pass protobuf's 2 GB. OUT/preallocated-kv.json
records the source graph. A graph whose parameters are missing, of another shape or not float32 is
refused naming the initializer.`;

const Args = z.object({
  in: z.string({ error: '--in DIR is required (a model folder with config.json and an fp32 graph)' }).min(1),
  out: z.string({ error: '--out DIR is required' }).min(1),
});

/** protobuf cannot encode a message of 2 GiB or more. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** The folder's config and tokenizer files: not its graphs, their data, nor model:make's marker (it describes the source). */
function copied(name: string): boolean {
  return !/\.onnx(_data.*)?$/.test(name) && name !== MARKER_FILE;
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { in: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  const args = validateFlags(Args, values, USAGE);
  if (!args) return;
  const source = resolve(args.in);
  const out = resolve(args.out);
  const config = await readConfig(source);
  const { graph, externalData } = await findGraph(source, { dtype: 'fp32' });
  const graphPath = join(source, graph);
  const model = onnx.ModelProto.decode(await readFile(graphPath));
  const inputs = (model.graph?.input ?? []).map((i) => i.name ?? '');
  if (inputs.includes('cache.0.key')) throw new ParameterReadError(`${graphPath} already has the preallocated-kv signature`);
  const reader = graphParameters(model, graphPath);
  let rewritten: onnx.ModelProto;
  try {
    rewritten = buildGpt2Graph(config, reader.parameters, 'preallocated-kv', 'fp32');
  } finally {
    reader.close();
  }
  const parameters = reader.read();
  const external = externalData.length > 0 || parameters * 4 >= PROTOBUF_LIMIT;

  // Written beside the target and renamed, so a reader never sees a half-written model folder.
  const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  try {
    await mkdir(join(staging, 'onnx'), { recursive: true });
    for (const entry of await readdir(source, { withFileTypes: true })) {
      if (entry.isFile() && copied(entry.name)) await copyFile(join(source, entry.name), join(staging, entry.name));
    }
    if (external) {
      const handle = await open(join(staging, 'onnx', 'model.onnx_data'), 'w');
      try {
        for (const chunk of moveToExternalData(rewritten, 'model.onnx_data')) await handle.write(chunk);
      } finally {
        await handle.close();
      }
    }
    await writeFile(join(staging, 'onnx', 'model.onnx'), onnx.ModelProto.encode(rewritten).finish());
    const record = { tool: 'model:preallocate-kv', source: graphPath, layout: 'preallocated-kv', parameters, externalData: external };
    await writeFile(join(staging, 'preallocated-kv.json'), `${JSON.stringify(record, null, 2)}\n`);
    await rm(out, { recursive: true, force: true });
    await rename(staging, out);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  console.log(`wrote ${out}: ${graph} of ${source} (${parameters} parameters) as onnx/model.onnx with the preallocated-kv signature`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
