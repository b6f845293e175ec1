import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { missingVulkanPiece } from '../../service/engine/device-kv/vulkan-check';

// The GPU check end to end on this machine: npm run gpu-check:bundle makes the bundle (under 64 MB),
// and scripts/gpu-check.sh runs its whole flow from the tarball with a tiny model and a reduced grid,
// webgpu on lavapipe (so the report says its numbers mean nothing). About 80 s on a busy 2-core machine:
// the compile and the gzip of the Node binary take most of it.

const run = promisify(execFile);
const REPO_ROOT = resolve(__dirname, '..', '..');
const VULKAN_MISSING = missingVulkanPiece();
if (VULKAN_MISSING) throw new Error(`${VULKAN_MISSING}. .ci/run installs libvulkan1 and mesa-vulkan-drivers from bookworm-backports for this test.`);

interface ReportCell {
  readonly model: string;
  readonly provider: string;
  readonly batch: number;
  readonly tokensPerSecond?: number;
  readonly toHostBytesPerStep?: number;
  readonly toDeviceBytesPerStep?: number;
  readonly skipped?: string;
}

it('builds a bundle under 64 MiB whose gpu-check.sh measures cpu and webgpu and writes the Markdown and JSON reports', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'gpu-check-'));
  try {
    await checkBundle(folder);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}, 300_000);

async function checkBundle(folder: string): Promise<void> {
  const bundle = join(folder, 'bundle');
  await run('npm', ['run', '--silent', 'gpu-check:bundle', '--', '--out', bundle], { cwd: REPO_ROOT, maxBuffer: 16 * 2 ** 20 });
  expect(statSync(`${bundle}.tar.gz`).size).toBeLessThan(64 * 2 ** 20);

  const report = join(folder, 'report');
  await run('bash', [join(REPO_ROOT, 'scripts', 'gpu-check.sh'), `${bundle}.tar.gz`, '--preset', 'tiny', '--batches', '1,2', '--contexts', '8', '--steps', '2', '--out', report], {
    cwd: folder,
    maxBuffer: 16 * 2 ** 20,
  });
  const markdown = readFileSync(join(report, 'gpu-check.md'), 'utf8');
  expect(markdown).toContain('lavapipe: numbers mean nothing');
  const { cells } = JSON.parse(readFileSync(join(report, 'gpu-check.json'), 'utf8')) as { cells: ReportCell[] };
  const measured = (provider: string) => cells.filter((cell) => cell.provider === provider && cell.tokensPerSecond !== undefined);
  expect(measured('cpu').map((cell) => `${cell.model}/${cell.batch}`).sort()).toEqual(['tiny-fp16/1', 'tiny-fp16/2', 'tiny/1', 'tiny/2']);
  expect(measured('webgpu').map((cell) => `${cell.model}/${cell.batch}`).sort()).toEqual(['tiny-fp16/1', 'tiny-fp16/2', 'tiny/1', 'tiny/2']);
  // webgpu moves only the last position's logits back (fp32 or fp16) and the step's ids and mask down.
  for (const cell of measured('webgpu')) {
    expect(cell.toHostBytesPerStep).toBe(cell.batch * 50257 * (cell.model === 'tiny' ? 4 : 2));
    expect(cell.toDeviceBytesPerStep).toBeLessThan(1024);
  }
  expect(cells.filter((cell) => cell.provider === 'cuda').every((cell) => cell.skipped !== undefined)).toBe(true);
}
