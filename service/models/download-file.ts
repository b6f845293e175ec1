// Downloads one file into `{target}.partial`, resuming a previous partial download with a Range
// request, verifies its size and checksum, and only then renames it to `target`: a file under its
// final name is always complete and verified.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, type RepoFile } from './hub-client';
import { ModelFetchError } from './errors';

export interface DownloadProgress {
  readonly file: string;
  readonly received: number;
  readonly total: number;
}

export interface DownloadFileOptions {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly file: RepoFile;
  readonly target: string;
  /** Further attempts after a dropped connection, each resuming where the last stopped. @default 3 */
  readonly retries?: number;
  /** Abort when no response or no data arrives for this long. @default 30_000 */
  readonly idleTimeoutMs?: number;
  readonly onProgress?: (progress: DownloadProgress) => void;
}

export async function downloadFile(options: DownloadFileOptions): Promise<void> {
  const partial = `${options.target}.partial`;
  await mkdir(dirname(options.target), { recursive: true });
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchIntoPartial(options, partial);
      break;
    } catch (error) {
      if (error instanceof ModelFetchError || attempt >= retries) {
        throw error instanceof ModelFetchError ? error : new ModelFetchError(`Downloading ${options.url} failed (${describe(error)}); run again to resume from ${partial}`);
      }
      // A short, growing pause so a briefly overloaded server or network is not hammered.
      await new Promise((resume) => setTimeout(resume, 250 * 2 ** attempt));
    }
  }
  await verify(options, partial);
  await rename(partial, options.target);
}

/** Appends the rest of the file to `partial`; throws plain errors for what a retry may fix. */
async function fetchIntoPartial(options: DownloadFileOptions, partial: string): Promise<void> {
  const { file, url } = options;
  let have = await stat(partial).then((s) => s.size, () => 0);
  if (have > file.size) {
    await rm(partial);
    have = 0;
  }
  if (have === file.size) return;

  const controller = new AbortController();
  const idleMs = options.idleTimeoutMs ?? 30_000;
  let idle = setTimeout(() => controller.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  };
  try {
    const headers = have > 0 ? { ...options.headers, Range: `bytes=${have}-` } : options.headers;
    const response = await fetch(url, { headers, signal: controller.signal });
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      throw new ModelFetchError(`The model hub answered ${response.status} ${response.statusText} for ${url}${response.status === 404 ? '' : '; set HF_TOKEN to a token that can read it'}`);
    }
    if (response.status !== 200 && response.status !== 206) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    // A server that ignores Range sends the whole file again (200): start over.
    const resumed = response.status === 206;
    if (!resumed) have = 0;
    const handle = await open(partial, resumed ? 'a' : 'w');
    try {
      options.onProgress?.({ file: file.path, received: have, total: file.size });
      for await (const chunk of response.body ?? []) {
        touch();
        const bytes = chunk as Uint8Array;
        if (have + bytes.byteLength > file.size) throw new ModelFetchError(`${url} sent more than the ${file.size} bytes the hub listed; not using it`);
        await handle.write(bytes);
        have += bytes.byteLength;
        options.onProgress?.({ file: file.path, received: have, total: file.size });
      }
    } finally {
      await handle.close();
    }
    if (have !== file.size) throw new Error(`connection closed after ${have} of ${file.size} bytes`);
  } finally {
    clearTimeout(idle);
  }
}

/** Size plus sha256 (LFS files) or the git blob id (small files); a mismatch deletes the partial file. */
async function verify({ file, url }: DownloadFileOptions, partial: string): Promise<void> {
  const size = (await stat(partial)).size;
  const problem = async (): Promise<string | undefined> => {
    if (size !== file.size) return `size ${size} bytes, expected ${file.size}`;
    if (file.sha256) {
      const actual = await digest(partial, createHash('sha256'));
      return actual === file.sha256 ? undefined : `sha256 ${actual}, expected ${file.sha256}`;
    }
    if (file.blobId) {
      const actual = await digest(partial, createHash('sha1').update(`blob ${size}\0`));
      return actual === file.blobId ? undefined : `git blob id ${actual}, expected ${file.blobId}`;
    }
    return undefined;
  };
  const found = await problem();
  if (found !== undefined) {
    await rm(partial, { force: true });
    throw new ModelFetchError(`${file.path} downloaded from ${url} is corrupt (${found}); deleted it, run the fetch again`);
  }
}

async function digest(path: string, hash: Hash): Promise<string> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
