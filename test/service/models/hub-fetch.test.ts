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
import { COMPLETE_MARKER, chooseFiles, fetchModel } from '../../../service/models/hub-fetch';
import { tinyModelDir } from '../../support/models';
import { startFakeHub, type FakeHub } from './fake-hub';

const REPO = 'onnx-community/gpt2';
const REPO_ROOT = join(__dirname, '..', '..', '..');
const exists = (path: string) => access(path).then(() => true, () => false);
// Buffer.equals, not toEqual: jest's deep equality walks a 13 MB buffer byte by byte for minutes.
const sameAsServed = async (path: string, file: string) => (await readFile(path)).equals(hub.files.get(file) as Buffer);

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
    expect(fetched).toMatchObject({ dir: join(cacheDir, 'onnx-community', 'gpt2', 'main'), repo: REPO, revision: 'main', commit: hub.commit });
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

  it('takes the external data files beside the graph', () => {
    const chosen = chooseFiles([...base, ...['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data'].map(file)], 'r@main');
    expect(chosen.map((f) => f.path).slice(-2)).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data']);
  });

  it('says which files a repository lacks', () => {
    expect(() => chooseFiles(base, 'openai-community/gpt2@main')).toThrow(
      'openai-community/gpt2@main has no onnx/model.onnx or onnx/decoder_model_merged.onnx (expected an ONNX export, like onnx-community/gpt2 or Xenova/gpt2)',
    );
    expect(() => chooseFiles([file('onnx/model.onnx')], 'r@main')).toThrow('r@main has no config.json, tokenizer.json, tokenizer_config.json');
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
    expect(stdout).toMatch(/fetched onnx-community\/gpt2@main \(commit [0-9a-f]{40}, 8 files, 16\.\d MB\)/);
    expect(stderr).toMatch(/^onnx\/model\.onnx: 13\.5\/13\.5 MB \(100%\)$/m);
  });
});
