/** @jest-environment ./test/support/onnx-environment.js */
// model:preallocate-kv: a model folder's Concat-cache graph rewritten into the preallocated-kv
// signature with the same parameters (the very graph model:make --export preallocated-kv writes for
// the same weights), beside the same tokenizer files; a graph it cannot read is refused by name.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { onnx } from 'onnx-proto';
import { loadModel } from '../../service/engine/model';
import { PreallocatedKvRunner } from '../../service/engine/preallocated-kv/runner';
import { tinyModelDir, tinyVariantDir } from '../support/models';

const run = promisify(execFile);
const REPO_ROOT = join(__dirname, '..', '..');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const SCRIPT = join(REPO_ROOT, 'scripts', 'model-preallocate-kv.ts');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'preallocate-kv-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('npm run model:preallocate-kv', () => {
  it("writes model:make's preallocated-kv graph of the same weights, with the folder's config and tokenizer files", async () => {
    const source = await tinyModelDir();
    const out = join(scratch, 'rewritten');
    const { stdout } = await run(TSX, [SCRIPT, '--in', source, '--out', out], { cwd: REPO_ROOT });
    expect(stdout).toContain('with the preallocated-kv signature');
    const made = await readFile(join(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' }), 'onnx', 'model.onnx'));
    expect((await readFile(join(out, 'onnx', 'model.onnx'))).equals(made)).toBe(true);
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect((await readFile(join(out, file))).equals(await readFile(join(source, file)))).toBe(true);
    }
    expect((await readdir(out)).sort()).not.toContain('model-make.json');
    expect(JSON.parse(await readFile(join(out, 'preallocated-kv.json'), 'utf8'))).toMatchObject({ source: join(source, 'onnx', 'model.onnx'), layout: 'preallocated-kv' });
  }, 120_000);

  it('reads weights from external data and writes them there, computing the same logits', async () => {
    const out = join(scratch, 'rewritten-external');
    await run(TSX, [SCRIPT, '--in', await tinyVariantDir('tiny-external', { externalData: true }), '--out', out], { cwd: REPO_ROOT });
    expect((await readdir(join(out, 'onnx'))).sort()).toEqual(['model.onnx', 'model.onnx_data']);
    const logits = async (dir: string) => {
      const model = await loadModel(dir, { intraOpThreads: 1 });
      try {
        expect(model.kvCache).toBe('preallocated');
        const runner = new PreallocatedKvRunner(model);
        const step = await runner.forward(runner.emptyCache(1), BigInt64Array.of(464n, 2068n, 7586n), 3);
        return runner.lastLogits(step, 0);
      } finally {
        await model.release();
      }
    };
    expect(await logits(out)).toEqual(await logits(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' })));
  }, 120_000);

  it('refuses a graph without one of GPT-2 parameters, naming it', async () => {
    const broken = join(scratch, 'broken');
    await cp(await tinyModelDir(), broken, { recursive: true });
    const path = join(broken, 'onnx', 'model.onnx');
    const model = onnx.ModelProto.decode(await readFile(path));
    const tensor = model.graph?.initializer?.find((t) => t.name === 'transformer.h.1.mlp.c_fc.weight');
    if (!tensor) throw new Error('the tiny model has no transformer.h.1.mlp.c_fc.weight');
    tensor.name = 'renamed';
    await writeFile(path, onnx.ModelProto.encode(model).finish());
    const failed = await run(TSX, [SCRIPT, '--in', broken, '--out', join(scratch, 'never')], { cwd: REPO_ROOT }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`${path} has no initializer transformer.h.1.mlp.c_fc.weight [64 x 256]`);
    await expect(readdir(join(scratch, 'never'))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
