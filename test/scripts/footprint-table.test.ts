// The README's GPT-2 family memory table is the output of npm run models:table, so it stays what
// service/models/footprint.ts computes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { footprintTable, withTable } from '../../scripts/footprint-table';
import { GPT2_SIZES, MODEL_DTYPES } from '../../service/models/footprint';

describe('npm run models:table', () => {
  it('has a row for every size and dtype', () => {
    const rows = footprintTable().split('\n').slice(2);
    expect(rows).toHaveLength(GPT2_SIZES.length * MODEL_DTYPES.length);
    expect(rows).toContain('| gpt2 | fp32 | 0.50 GB | 72 KiB | 213 | 1124 |');
    expect(rows.find((row) => row.startsWith('| gpt2-xl | fp32 |'))).toMatch(/\| 6\.23 GB \| 600 KiB \| \d+ \| \d+ \|$/);
  });

  it('is the table the README holds (run npm run models:table -- --write after changing footprint.ts)', async () => {
    const readme = await readFile(join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(withTable(readme)).toBe(readme);
  });
});
