// Where every benchmark writes its report: bench/results/NAME.json and NAME.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const RESULTS_DIR = resolve(__dirname, '..', '..', 'bench', 'results');

export async function writeBenchResults(name: string, report: unknown, markdown: string): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(RESULTS_DIR, `${name}.md`), markdown);
  console.error(`wrote ${join(RESULTS_DIR, `${name}.json`)} and ${name}.md`);
}
