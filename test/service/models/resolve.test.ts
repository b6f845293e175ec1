// resolveModelDir: MODEL_DIR first (checked), then a complete cached copy without any request, then
// a fetch; and when nothing can be had, an error that says how to get a model.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelLoadError } from '../../../service/engine/errors';
import { ModelFetchError } from '../../../service/models/errors';
import { COMPLETE_MARKER } from '../../../service/models/hub-fetch';
import { resolveModelDir } from '../../../service/models/resolve';
import { tinyModelDir } from '../../support/models';
import { closedPort, startFakeHub, type FakeHub } from './fake-hub';

const REPO = 'onnx-community/gpt2-ONNX';
const GET_A_MODEL = 'Set MODEL_DIR to a local Hugging Face-layout model folder, or make a test model with npm run model:make -- --preset tiny --out models/tiny and set MODEL_DIR=models/tiny.';

let hub: FakeHub;
let tiny: string;
let scratch: string;

beforeAll(async () => {
  tiny = await tinyModelDir();
  hub = await startFakeHub(REPO, tiny);
  scratch = await mkdtemp(join(tmpdir(), 'resolve-'));
});

afterAll(async () => {
  await hub.close();
  await rm(scratch, { recursive: true, force: true });
});

const freshCache = () => mkdtemp(join(scratch, 'cache-'));

describe('resolveModelDir', () => {
  it('returns MODEL_DIR when it holds a GPT-2 config and an ONNX graph, without asking the hub', async () => {
    const before = hub.requests.length;
    await expect(resolveModelDir({ modelDir: tiny, modelId: 'gpt2', cacheDir: await freshCache(), hub: { endpoint: hub.endpoint } })).resolves.toBe(tiny);
    expect(hub.requests.length).toBe(before);
  });

  it('rejects a MODEL_DIR that does not exist, saying what to set', async () => {
    const missing = join(scratch, 'missing');
    const error = await resolveModelDir({ modelDir: missing, modelId: 'gpt2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toBe(`MODEL_DIR=${missing} is not a folder (point it at a local Hugging Face-layout model folder, or make a test model with npm run model:make -- --preset tiny --out models/tiny and set MODEL_DIR=models/tiny)`);
  });

  it('rejects a MODEL_DIR without an ONNX graph', async () => {
    const dir = join(scratch, 'config-only');
    await mkdir(dir);
    await cp(join(tiny, 'config.json'), join(dir, 'config.json'));
    await expect(resolveModelDir({ modelDir: dir, modelId: 'gpt2' })).rejects.toThrow(`MODEL_DIR=${dir} has no fp32 graph (looked for onnx/model.onnx, onnx/decoder_model_merged.onnx)`);
  });

  it('fetches into the cache when it has no copy, then uses the cached copy without any request', async () => {
    const cacheDir = await freshCache();
    const expected = join(cacheDir, 'onnx-community', 'gpt2-ONNX', 'main');
    await expect(resolveModelDir({ modelId: 'gpt2', cacheDir, hub: { endpoint: hub.endpoint } })).resolves.toBe(expected);
    const after = hub.requests.length;
    await expect(resolveModelDir({ modelId: 'gpt2', cacheDir, hub: { endpoint: 'http://127.0.0.1:1' }, allowDownload: false })).resolves.toBe(expected);
    expect(hub.requests.length).toBe(after);
  });

  it('does not use a cached copy whose fetch never completed', async () => {
    const cacheDir = await freshCache();
    const dir = join(cacheDir, REPO, 'main');
    await cp(tiny, dir, { recursive: true });
    await expect(resolveModelDir({ modelId: REPO, cacheDir, allowDownload: false })).rejects.toThrow(
      new ModelFetchError(`MODEL_DIR is not set and ${dir} holds no complete copy of ${REPO}@main (MODEL_DTYPE=fp32), and downloading is disabled. ${GET_A_MODEL}`),
    );
    const files = ['config.json', 'tokenizer.json', 'onnx/model.onnx'].map((path) => ({ path, size: 1 }));
    await writeFile(join(dir, COMPLETE_MARKER), JSON.stringify({ repo: REPO, revision: 'main', commit: 'c', files }));
    await expect(resolveModelDir({ modelId: REPO, cacheDir, allowDownload: false })).resolves.toBe(dir);
    // A complete fetch of one dtype is no copy of another: that one is fetched (here: refused).
    await expect(resolveModelDir({ modelId: REPO, cacheDir, graph: { dtype: 'fp16' }, allowDownload: false })).rejects.toThrow(
      `holds no complete copy of ${REPO}@main (MODEL_DTYPE=fp16), and downloading is disabled`,
    );
  });

  it('says to set MODEL_DIR or run model:make when the hub is unreachable', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const error = await resolveModelDir({ modelId: 'gpt2', cacheDir: await freshCache(), hub: { endpoint } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFetchError);
    const { message } = error as Error;
    expect(message).toMatch(new RegExp(`^Could not fetch onnx-community/gpt2-ONNX@main from ${endpoint}: Could not reach the model hub at ${endpoint}/api/models/onnx-community/gpt2-ONNX/revision/main\\?blobs=true \\(fetch failed: .*ECONNREFUSED.*\\)\\. `));
    expect(message.endsWith(GET_A_MODEL)).toBe(true);
  });

  it('rejects a model id that is not a hub repository', async () => {
    await expect(resolveModelDir({ modelId: 'gpt-7', cacheDir: await freshCache() })).rejects.toThrow(
      'Model id "gpt-7" is not a hub repository (expected owner/name, like onnx-community/gpt2-ONNX); known short names: distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl',
    );
    await expect(resolveModelDir({ modelId: '../etc', cacheDir: await freshCache() })).rejects.toThrow(
      /^Model id "\.\.\/etc" is not a hub repository \(must not contain \.\.\); known short names: distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl$/,
    );
  });
});
