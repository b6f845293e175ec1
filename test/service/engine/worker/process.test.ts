import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { workerEntry } from '../../../../service/engine/worker/process';
import { tinyModelDir } from '../../../support/models';

// The worker's entry runs under tsx from the TypeScript sources (npm start, jest) and as plain
// JavaScript once compiled (node dist/...): the client picks the entry beside itself and the loader
// it needs.

const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
const SERVICE = join(REPO_ROOT, 'service');

describe('worker entry', () => {
  it('runs the TypeScript entry with tsx resolved from the package, not the working directory', () => {
    const entry = workerEntry(join(SERVICE, 'engine', 'worker', 'process.ts'));
    expect(entry.path).toBe(join(SERVICE, 'engine', 'worker', 'entry.ts'));
    expect(entry.execArgv).toEqual(['--import', expect.stringMatching(/^file:\/\/.*\/node_modules\/tsx\/.*\.mjs$/)]);
  });

  it('names the missing file when the entry is not next to the client', () => {
    expect(() => workerEntry('/nowhere/process.js')).toThrow(/the engine worker entry \/nowhere\/entry\.js is missing .*rebuild the service/);
  });

  describe('compiled to JavaScript', () => {
    // Inside the repository so that the compiled files resolve node_modules as dist/ would.
    const out = join(REPO_ROOT, '.cache', `compiled-service-${process.pid}`);
    beforeAll(() => {
      const compile = (dir: string): void => {
        for (const name of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, name.name);
          if (name.isDirectory()) compile(path);
          else if (name.name.endsWith('.ts')) {
            const { outputText } = ts.transpileModule(readFileSync(path, 'utf8'), {
              fileName: path,
              compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
            });
            const target = join(out, relative(REPO_ROOT, path)).replace(/\.ts$/, '.js');
            mkdirSync(dirname(target), { recursive: true });
            writeFileSync(target, outputText);
          }
        }
      };
      compile(SERVICE);
    });
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    it('starts the worker from entry.js with plain node and generates what the in-process engine does', async () => {
      const modelDir = await tinyModelDir();
      const script = `
        const { createWorkerEngine } = require(${JSON.stringify(join(out, 'service/engine/worker/client.js'))});
        const { createEngine } = require(${JSON.stringify(join(out, 'service/engine/engine.js'))});
        const { createSamplingParams } = require(${JSON.stringify(join(out, 'service/engine/params.js'))});
        const { readFileSync } = require('node:fs');
        const tokens = async (engine) => {
          const params = createSamplingParams({ maxTokens: 6, temperature: 0, stopOnEos: false }, { vocabSize: 50257 });
          const ids = [];
          for await (const event of engine.generate({ promptIds: [464, 2068, 7586], params })) if (event.type === 'delta') ids.push(...event.tokens.map((t) => t.tokenId));
          return ids;
        };
        (async () => {
          const worker = await createWorkerEngine({ modelDir: ${JSON.stringify(modelDir)}, intraOpThreads: 1, logLevel: 'silent' });
          const cmdline = readFileSync('/proc/' + worker.workerPid + '/cmdline', 'utf8').split('\\0');
          const local = await createEngine({ modelDir: ${JSON.stringify(modelDir)}, intraOpThreads: 1 });
          console.log(JSON.stringify({ cmdline, worker: await tokens(worker), local: await tokens(local) }));
          await Promise.all([worker.close(), local.close()]);
        })().catch((error) => { console.error(error); process.exit(1); });`;
      const child = spawn(process.execPath, ['-e', script], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as { cmdline: string[]; worker: number[]; local: number[] };
      expect(result.cmdline.some((arg) => arg.endsWith(join('service', 'engine', 'worker', 'entry.js')))).toBe(true);
      expect(result.cmdline.join(' ')).not.toMatch(/tsx/);
      expect(result.worker).toHaveLength(6);
      expect(result.worker).toEqual(result.local);
    }, 120_000);
  });
});
