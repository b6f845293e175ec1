// `npm run build` (tsc with tsconfig.build.json, then scripts/build-assets): the assets step copies what is
// not TypeScript, every service module gets its .js (worker entries included), and the compiled service
// starts with plain node, no tsx, and serves the tiny model.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { copyAssets } from '../../scripts/build-assets';
import { tinyModelDir } from '../support/models';
import { startService, waitForReady } from '../support/service-process';

const REPO_ROOT = resolve(__dirname, '..', '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

describe('copyAssets', () => {
  it('copies every file that is not TypeScript, keeping its folder, and leaves the sources behind', () => {
    const source = mkdtempSync(join(tmpdir(), 'assets-src-'));
    const out = mkdtempSync(join(tmpdir(), 'assets-out-'));
    mkdirSync(join(source, 'http', 'playground'), { recursive: true });
    writeFileSync(join(source, 'main.ts'), 'export {};');
    writeFileSync(join(source, 'http', 'playground', 'index.html'), '<!doctype html>');
    writeFileSync(join(source, 'http', 'playground', 'page.ts'), 'export {};');
    writeFileSync(join(source, 'data.json'), '{}');
    copyAssets(source, out);
    expect(filesUnder(out).sort()).toEqual(['data.json', join('http', 'playground', 'index.html')]);
  });
});

describe('the compiled service', () => {
  // Inside the repository, so the compiled modules find node_modules as dist/ does.
  const outDir = join(REPO_ROOT, '.cache', `build-test-${process.pid}`);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('has a .js for every service module and starts with plain node, serving the tiny model', async () => {
    // --noCheck: npm test type-checks the same files already; this checks what is emitted and that it runs.
    await promisify(execFile)(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--noCheck', '--outDir', outDir], { cwd: REPO_ROOT });
    await promisify(execFile)(process.execPath, [join(outDir, 'scripts', 'build-assets.js')], { cwd: REPO_ROOT });
    const sources = filesUnder(join(REPO_ROOT, 'service')).filter((file) => file.endsWith('.ts'));
    expect(sources.length).toBeGreaterThan(20);
    expect(sources.filter((file) => !existsSync(join(outDir, 'service', file.replace(/\.ts$/, '.js'))))).toEqual([]);

    const service = startService({ MODEL_DIR: await tinyModelDir() }, [join(outDir, 'service', 'main.js')]);
    try {
      const url = await service.listening;
      await waitForReady(url);
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt2', prompt: 'Hello', max_tokens: 3, temperature: 0 }),
      });
      expect(response.status).toBe(200);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  }, 240_000);
});
