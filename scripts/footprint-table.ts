// CLI: the README's table of GPT-2 family memory needs (weights, KV cache per token, largest batch at
// full context on a 16 GB and an 80 GB GPU) for every size and dtype, from service/models/footprint.ts.
// `--write` replaces the table in README.md; a test checks that the README holds exactly this output.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GPT2_FAMILY, GPT2_SIZES, maxBatchAtFullContext, MODEL_DTYPES, modelFootprint } from '../service/models/footprint';

const GB = 1e9;
const GIB = 1024 ** 3;
/** The GPUs the clouds' defaults have: T4 and L4 (16 GB class), A100/H100 80 GB. */
const GPU_MEMORY = [
  { label: '16 GB GPU', bytes: 16 * GIB },
  { label: '80 GB GPU', bytes: 80 * GIB },
] as const;

export const TABLE_START = '<!-- footprint-table:start (npm run models:table -- --write) -->';
export const TABLE_END = '<!-- footprint-table:end -->';

export function footprintTable(): string {
  const header = `| size | dtype | weights | KV cache per token | ${GPU_MEMORY.map((gpu) => `batch at 1024 tokens, ${gpu.label}`).join(' | ')} |`;
  const rule = `|${' --- |'.repeat(4 + GPU_MEMORY.length)}`;
  const rows = GPT2_SIZES.flatMap((size) =>
    MODEL_DTYPES.map((dtype) => {
      const shape = GPT2_FAMILY[size];
      const footprint = modelFootprint(shape, dtype);
      const batches = GPU_MEMORY.map((gpu) => String(maxBatchAtFullContext(shape, dtype, gpu.bytes)));
      return `| ${size} | ${dtype} | ${(footprint.weightBytes / GB).toFixed(2)} GB | ${(footprint.kvBytesPerToken / 1024).toFixed(0)} KiB | ${batches.join(' | ')} |`;
    }),
  );
  return [header, rule, ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by the current table. */
export function withTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${TABLE_START} ... ${TABLE_END} block`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${footprintTable()}\n${readme.slice(end)}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { write: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log('Usage: npm run models:table [-- --write]   prints the GPT-2 family memory table; --write updates README.md');
    return;
  }
  if (!values.write) {
    console.log(footprintTable());
    return;
  }
  const path = join(__dirname, '..', 'README.md');
  await writeFile(path, withTable(await readFile(path, 'utf8')));
  console.log(`updated the table in ${path}`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
