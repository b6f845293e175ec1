/** @jest-environment ./test/support/onnx-environment.js */
// fetchModel against a local stand-in for the hub: a clean download that loads, the token, a cut
// connection resumed with Range, a corrupt file rejected without leaving anything under its name.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadModel } from '../../../service/engine/model';
import type { DownloadProgress } from '../../../service/models/download-file';
import { ModelFetchError } from '../../../service/models/errors';
import { COMPLETE_MARKER, chooseFiles, fetchModel, findCachedModel } from '../../../service/models/hub-fetch';
import { tinyModelDir, tinyVariantDir } from '../../support/models';
import { startFakeHub, type FakeHub } from './fake-hub';

const REPO = 'onnx-community/gpt2-ONNX';
const REPO_ROOT = join(__dirname, '..', '..', '..');
const exists = (path: string) => access(path).then(() => true, () => false);
// Buffer.equals, not toEqual: jest's deep equality walks a 13 MB buffer byte by byte for minutes.
const sameAs = async (server: FakeHub, path: string, file: string) => (await readFile(path)).equals(server.files.get(file) as Buffer);
const sameAsServed = (path: string, file: string) => sameAs(hub, path, file);

let hub: FakeHub;
let scratch: string;

beforeAll(async () => {
  hub = await startFakeHub(REPO, await tinyModelDir(), { 'onnx/model_fp16.onnx': 'not needed', 'README.md': '# gpt2' });
  scratch = await mkdtemp(join(tmpdir(), 'hub-fetch-'));
});

afterAll(async () => {
  await hub.close();
  await rm(scratch, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.onRequest(undefined);
});

const freshCache = () => mkdtemp(join(scratch, 'cache-'));
const fileRequests = () => hub.requests.filter((r) => !r.path.startsWith('/api/'));
const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');
const servedSize = (file: string) => (hub.files.get(file) as Buffer).length;

/**
 * Progress callback plus a promise that settles once the client wrote bytes of `file` to its partial
 * file: a cut that waits for it always leaves the client something to resume from.
 */
function firstBytesWritten(file: string): { written: Promise<void>; onProgress: (progress: DownloadProgress) => void } {
  let reached: () => void = () => undefined;
  const written = new Promise<void>((resolve) => (reached = resolve));
  const onProgress = (progress: DownloadProgress): void => {
    if (progress.file === file && progress.received > 0) reached();
  };
  return { written, onProgress };
}

describe('fetchModel', () => {
  it('downloads only the needed files into {cache}/{repo}/{revision}, marks it complete, and the folder loads', async () => {
    const cacheDir = await freshCache();
    const fetched = await fetchModel({ modelId: 'gpt2', cacheDir, hub: { endpoint: hub.endpoint } });
    expect(fetched).toMatchObject({ dir: join(cacheDir, 'onnx-community', 'gpt2-ONNX', 'main'), repo: REPO, revision: 'main', commit: hub.commit });
    const requested = new Set(fileRequests().map((r) => r.path.replace(/^.*\/(resolve\/main|cdn\/[0-9a-f]+)\//, '')));
    expect(requested).toEqual(new Set(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'onnx/model.onnx']));
    expect(await sameAsServed(join(fetched.dir, 'onnx', 'model.onnx'), 'onnx/model.onnx')).toBe(true);
    expect(JSON.parse(await readFile(join(fetched.dir, COMPLETE_MARKER), 'utf8'))).toMatchObject({ repo: REPO, commit: hub.commit });
    const model = await loadModel(fetched.dir);
    await model.release();
    expect(model.config.nLayer).toBe(2);
  });

  it('sends HF_TOKEN as a bearer token on every request, redirects included', async () => {
    hub.requireToken('hf_secret');
    try {
      await expect(fetchModel({ modelId: REPO, cacheDir: await freshCache(), hub: { endpoint: hub.endpoint } })).rejects.toThrow(
        new ModelFetchError(`The model hub answered 401 Unauthorized for ${hub.endpoint}/api/models/${REPO}/revision/main?blobs=true; set HF_TOKEN to a token that can read it`),
      );
      hub.requests.length = 0;
      await fetchModel({ modelId: REPO, cacheDir: await freshCache(), hub: { endpoint: hub.endpoint, token: 'hf_secret' } });
      expect(hub.requests.length).toBeGreaterThan(9);
      expect(hub.requests.every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
    } finally {
      hub.requireToken(undefined);
    }
  });

  it('resumes a connection cut halfway with a Range request from the bytes it kept, and gets a verified file', async () => {
    const cacheDir = await freshCache();
    const target = join(cacheDir, REPO, 'main', 'onnx', 'model.onnx');
    // How much of the cut response reaches the disk depends on timing, so the Range is compared with
    // what the client kept: read as the resumed request arrives (its last write finished before it sent it).
    const atResume: { partialBytes: number; finalExists: boolean }[] = [];
    hub.onRequest((request) => {
      if (request.range === undefined || !request.path.startsWith('/cdn/')) return;
      atResume.push({ partialBytes: statSync(`${target}.partial`, { throwIfNoEntry: false })?.size ?? 0, finalExists: existsSync(target) });
    });
    const half = Math.floor(servedSize('onnx/model.onnx') / 2);
    const progress = firstBytesWritten('onnx/model.onnx');
    hub.cutOnce('onnx/model.onnx', half, progress.written);
    const fetched = await fetchModel({ modelId: REPO, cacheDir, hub: { endpoint: hub.endpoint }, onProgress: progress.onProgress });

    expect(atResume).toHaveLength(1);
    const [{ partialBytes, finalExists }] = atResume as [{ partialBytes: number; finalExists: boolean }];
    expect(partialBytes).toBeGreaterThan(0);
    expect(partialBytes).toBeLessThanOrEqual(half);
    expect(finalExists).toBe(false);
    const cdn = fileRequests().filter((r) => r.path.endsWith('/onnx/model.onnx') && r.path.startsWith('/cdn/'));
    expect(cdn.map((r) => r.range)).toEqual([undefined, `bytes=${partialBytes}-`]);
    expect(fetched.dir).toBe(join(cacheDir, REPO, 'main'));
    expect(sha256(await readFile(target))).toBe(sha256(hub.files.get('onnx/model.onnx') as Buffer));
    expect(await exists(`${target}.partial`)).toBe(false);
  });

  it('leaves a .partial file when a run fails, and the next run resumes it', async () => {
    const cacheDir = await freshCache();
    const target = join(cacheDir, REPO, 'main', 'onnx', 'model.onnx');
    const cut = 1_000_000;
    const progress = firstBytesWritten('onnx/model.onnx');
    hub.cutOnce('onnx/model.onnx', cut, progress.written);
    await expect(fetchModel({ modelId: REPO, cacheDir, hub: { endpoint: hub.endpoint }, retries: 0, onProgress: progress.onProgress })).rejects.toThrow(
      /run again to resume from .*model\.onnx\.partial/,
    );
    // Up to `cut` bytes, as many as reached the disk before the connection dropped.
    const kept = (await stat(`${target}.partial`)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(cut);
    expect(await exists(target)).toBe(false);
    expect(await exists(join(cacheDir, REPO, 'main', COMPLETE_MARKER))).toBe(false);

    hub.requests.length = 0;
    await fetchModel({ modelId: REPO, cacheDir, hub: { endpoint: hub.endpoint } });
    expect(fileRequests().filter((r) => r.path.startsWith('/cdn/')).map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(fileRequests().filter((r) => r.path.endsWith('config.json'))).toHaveLength(0);
    expect(await sameAsServed(target, 'onnx/model.onnx')).toBe(true);
    expect(await exists(`${target}.partial`)).toBe(false);
  });

  it('rejects a file whose sha256 does not match the listing and leaves nothing corrupt behind', async () => {
    const cacheDir = await freshCache();
    const target = join(cacheDir, REPO, 'main', 'onnx', 'model.onnx');
    hub.corruptOnce('onnx/model.onnx');
    const error = await fetchModel({ modelId: REPO, cacheDir, hub: { endpoint: hub.endpoint } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as Error).message).toMatch(/^onnx\/model\.onnx downloaded from .* is corrupt \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); deleted it, run the fetch again$/);
    expect(await exists(target)).toBe(false);
    expect(await exists(`${target}.partial`)).toBe(false);
    expect(await exists(join(cacheDir, REPO, 'main', COMPLETE_MARKER))).toBe(false);
  });

  it('rejects a repository that does not exist with the status and a hint', async () => {
    await expect(fetchModel({ modelId: 'someone/missing', cacheDir: await freshCache(), hub: { endpoint: hub.endpoint } })).rejects.toThrow(
      /answered 404 Not Found for .*\/api\/models\/someone\/missing\/revision\/main\?blobs=true; check the model id and revision$/,
    );
  });
});

describe('chooseFiles', () => {
  const file = (path: string) => ({ path, size: 1 });
  const base = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md'].map(file);

  it("takes Xenova's merged decoder when there is no onnx/model.onnx, and never the other variants", () => {
    const chosen = chooseFiles([...base, ...['onnx/decoder_model.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged_quantized.onnx'].map(file)], 'Xenova/gpt2@main');
    expect(chosen.map((f) => f.path)).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/decoder_model_merged.onnx']);
  });

  it('takes the external data files beside the graph, chunked ones included', () => {
    const chosen = chooseFiles([...base, ...['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data'].map(file)], 'r@main');
    expect(chosen.map((f) => f.path).slice(-2)).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data']);
    const chunked = ['onnx/model_q4.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1', 'onnx/model_q4f16.onnx_data'].map(file);
    expect(chooseFiles([...base, ...chunked], 'r@main', { dtype: 'q4' }).map((f) => f.path).slice(-3)).toEqual(['onnx/model_q4.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1']);
  });

  // The files of onnx-community/gpt2-ONNX's onnx/ folder and of Xenova/distilgpt2's, as their hub listings show them.
  const onnxCommunity = ['model', 'model_bnb4', 'model_fp16', 'model_int8', 'model_q4', 'model_q4f16', 'model_quantized', 'model_uint8'].map((n) => file(`onnx/${n}.onnx`));
  const xenova = ['decoder_model', 'decoder_model_fp16', 'decoder_model_merged', 'decoder_model_merged_quantized', 'decoder_model_quantized', 'decoder_with_past_model', 'decoder_with_past_model_quantized'].map((n) => file(`onnx/${n}.onnx`));

  it.each([
    ['fp32', 'onnx/model.onnx'],
    ['fp16', 'onnx/model_fp16.onnx'],
    ['q8', 'onnx/model_quantized.onnx'],
    ['int8', 'onnx/model_int8.onnx'],
    ['uint8', 'onnx/model_uint8.onnx'],
    ['q4', 'onnx/model_q4.onnx'],
    ['q4f16', 'onnx/model_q4f16.onnx'],
    ['bnb4', 'onnx/model_bnb4.onnx'],
  ] as const)('MODEL_DTYPE=%s takes %s from an onnx-community layout, and no other graph', (dtype, graph) => {
    const chosen = chooseFiles([...base, ...onnxCommunity], 'onnx-community/gpt2-ONNX@main', { dtype });
    expect(chosen.filter((f) => f.path.endsWith('.onnx')).map((f) => f.path)).toEqual([graph]);
  });

  it("MODEL_DTYPE=q8 takes Xenova's quantized merged decoder; MODEL_FILE takes any graph", () => {
    expect(chooseFiles([...base, ...xenova], 'Xenova/distilgpt2@main', { dtype: 'q8' }).at(-1)?.path).toBe('onnx/decoder_model_merged_quantized.onnx');
    expect(chooseFiles([...base, ...xenova], 'Xenova/distilgpt2@main', { dtype: 'q8', file: 'onnx/decoder_model_merged.onnx' }).at(-1)?.path).toBe('onnx/decoder_model_merged.onnx');
  });

  it('refuses a dtype the repository does not have, listing the dtypes and the other graphs it has', () => {
    expect(() => chooseFiles([...base, ...xenova], 'Xenova/distilgpt2@main', { dtype: 'fp16' })).toThrow(
      new ModelFetchError(
        'Xenova/distilgpt2@main has no fp16 graph (looked for onnx/model_fp16.onnx, onnx/decoder_model_merged_fp16.onnx); it has: fp32, q8 (set MODEL_DTYPE to one of them); ' +
          'other ONNX files: onnx/decoder_model.onnx, onnx/decoder_model_fp16.onnx, onnx/decoder_model_quantized.onnx, onnx/decoder_with_past_model.onnx, onnx/decoder_with_past_model_quantized.onnx (set MODEL_FILE to use one) ' +
          '(expected an ONNX export, like onnx-community/gpt2-ONNX or Xenova/gpt2)',
      ),
    );
    expect(() => chooseFiles([...base, ...onnxCommunity], 'r@main', { file: 'onnx/model_q2.onnx' })).toThrow(/^r@main has no MODEL_FILE=onnx\/model_q2\.onnx; it has: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4/);
  });

  it('says which files a repository lacks', () => {
    expect(() => chooseFiles(base, 'openai-community/gpt2@main')).toThrow(
      'openai-community/gpt2@main has no fp32 graph (looked for onnx/model.onnx, onnx/decoder_model_merged.onnx); it has no graph named as transformers.js names them (expected an ONNX export, like onnx-community/gpt2-ONNX or Xenova/gpt2)',
    );
    expect(() => chooseFiles([file('onnx/model.onnx')], 'r@main')).toThrow('r@main has no config.json, tokenizer.json');
  });
});

describe('fetchModel with MODEL_DTYPE', () => {
  let dtypeHub: FakeHub;
  let externalHub: FakeHub;
  beforeAll(async () => {
    // One repository with an fp32 and an fp16 graph, as the hub's onnx-community exports have.
    const fp16 = await readFile(join(await tinyVariantDir('tiny-fp16-io32', { precision: 'fp16-io32' }), 'onnx', 'model_fp16.onnx'));
    dtypeHub = await startFakeHub(REPO, await tinyModelDir(), { 'onnx/model_fp16.onnx': fp16 });
    externalHub = await startFakeHub('onnx-community/gpt2-large-ONNX', await tinyVariantDir('tiny-external', { externalData: true }));
  });
  afterAll(async () => {
    await dtypeHub.close();
    await externalHub.close();
  });
  const downloaded = (h: FakeHub) => h.requests.filter((r) => !r.path.startsWith('/api/') && !r.path.includes('/resolve/')).map((r) => r.path.replace(/^\/cdn\/[0-9a-f]+\//, ''));

  it('downloads only the graph the dtype picks, and adds another dtype to the same folder', async () => {
    const cacheDir = await freshCache();
    const fp16 = await fetchModel({ modelId: REPO, graph: { dtype: 'fp16' }, cacheDir, hub: { endpoint: dtypeHub.endpoint } });
    expect(downloaded(dtypeHub)).toEqual(['onnx/model_fp16.onnx']);
    expect(await exists(join(fp16.dir, 'onnx', 'model.onnx'))).toBe(false);
    await expect(findCachedModel(cacheDir, REPO, 'main', { dtype: 'fp16' })).resolves.toBe(fp16.dir);
    await expect(findCachedModel(cacheDir, REPO, 'main', { dtype: 'fp32' })).resolves.toBeUndefined();
    dtypeHub.requests.length = 0;
    const fp32 = await fetchModel({ modelId: REPO, graph: { dtype: 'fp32' }, cacheDir, hub: { endpoint: dtypeHub.endpoint } });
    expect(fp32.dir).toBe(fp16.dir);
    expect(downloaded(dtypeHub)).toEqual(['onnx/model.onnx']);
    await expect(findCachedModel(cacheDir, REPO, 'main', { dtype: 'fp16' })).resolves.toBe(fp16.dir);
    const model = await loadModel(fp16.dir, { dtype: 'fp16' });
    await model.release();
    expect(model.onnxPath).toBe(join(fp16.dir, 'onnx', 'model_fp16.onnx'));
  });

  it('downloads the external data beside the graph, and the folder loads', async () => {
    const fetched = await fetchModel({ modelId: 'gpt2-large', cacheDir: await freshCache(), hub: { endpoint: externalHub.endpoint } });
    expect(fetched.files.map((f) => f.path).slice(-2)).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data']);
    expect(await sameAs(externalHub, join(fetched.dir, 'onnx', 'model.onnx_data'), 'onnx/model.onnx_data')).toBe(true);
    const model = await loadModel(fetched.dir);
    await model.release();
    expect(model.externalData).toEqual(['onnx/model.onnx_data']);
  });

  it('refuses a dtype the repository lacks before downloading anything, naming those it has', async () => {
    dtypeHub.requests.length = 0;
    await expect(fetchModel({ modelId: REPO, graph: { dtype: 'q4' }, cacheDir: await freshCache(), hub: { endpoint: dtypeHub.endpoint } })).rejects.toThrow(
      `${REPO}@main has no q4 graph (looked for onnx/model_q4.onnx, onnx/decoder_model_merged_q4.onnx); it has: fp32, fp16 (set MODEL_DTYPE to one of them)`,
    );
    expect(downloaded(dtypeHub)).toEqual([]);
  });

  it('refuses a repository of another architecture after its config.json, naming the model_type', async () => {
    const llama = await startFakeHub('someone/llama-onnx', await tinyModelDir(), { 'config.json': JSON.stringify({ model_type: 'llama', num_hidden_layers: 2 }) });
    try {
      await expect(fetchModel({ modelId: 'someone/llama-onnx', cacheDir: await freshCache(), hub: { endpoint: llama.endpoint } })).rejects.toThrow(
        new ModelFetchError(
          'someone/llama-onnx@main: config.json has model_type "llama": this engine runs GPT-2 architecture models only (model_type "gpt2": gpt2, distilgpt2, gpt2-medium/large/xl and their fine-tunes); nothing else was downloaded',
        ),
      );
      expect(downloaded(llama).filter((p) => p.endsWith('.onnx'))).toEqual([]);
    } finally {
      await llama.close();
    }
  });
});

describe('npm run model:fetch', () => {
  it('downloads with plain progress lines when not on a terminal and prints MODEL_DIR', async () => {
    const cacheDir = await freshCache();
    const { stdout, stderr } = await promisify(execFile)(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/model-fetch.ts', '--id', 'gpt2', '--cache', cacheDir], {
      cwd: REPO_ROOT,
      env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_TOKEN: '' },
    });
    expect(stdout).toContain(`MODEL_DIR=${join(cacheDir, REPO, 'main')}\n`);
    expect(stdout).toMatch(/fetched onnx-community\/gpt2-ONNX@main \(commit [0-9a-f]{40}, 8 files, 16\.\d MB\)/);
    expect(stderr).toMatch(/^onnx\/model\.onnx: 13\.5\/13\.5 MB \(100%\) in \d+\.\d s$/m);
  });
});
