// A stand-in for the Hugging Face hub on 127.0.0.1 with its URL layout (/api/models/{repo}/revision/{rev},
// /{repo}/resolve/{rev}/{path} redirecting LFS files elsewhere), Range support, and switches to cut
// a download short, corrupt a file or demand a token, and a hook that sees each request as it arrives.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

export interface HubRequest {
  readonly path: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
}

export interface FakeHub {
  readonly endpoint: string;
  readonly requests: HubRequest[];
  readonly commit: string;
  /** Served file contents by repository path. */
  readonly files: Map<string, Buffer>;
  /**
   * The next response for this path sends at most this many bytes and then drops the connection,
   * once those bytes are with the kernel and `dropAfter` (if given) settled. How many of them the
   * client keeps depends on timing; tests compare with what it kept.
   */
  cutOnce(path: string, bytes: number, dropAfter?: Promise<unknown>): void;
  /** The next response for this path has one byte changed (the listing keeps the true checksum). */
  corruptOnce(path: string): void;
  /** Answer 401 to requests without `Authorization: Bearer {token}`; undefined: accept any. */
  requireToken(token: string | undefined): void;
  /** Called synchronously as each request arrives, before it is answered; undefined: none. */
  onRequest(listener: ((request: HubRequest) => void) | undefined): void;
  close(): Promise<void>;
}

const LFS_SUFFIXES = ['.onnx', '.onnx_data'];

/** Serves `modelDir`'s files as repository `repo` at revision `main`, plus (or replaced by) `extraFiles`. */
export async function startFakeHub(repo: string, modelDir: string, extraFiles: Record<string, string | Buffer> = {}): Promise<FakeHub> {
  const files = new Map<string, Buffer>();
  for (const path of await listFiles(modelDir)) files.set(relative(modelDir, path), await readFile(path));
  for (const [path, content] of Object.entries(extraFiles)) files.set(path, Buffer.isBuffer(content) ? content : Buffer.from(content));
  const commit = createHash('sha1').update('fake commit').digest('hex');
  const requests: HubRequest[] = [];
  const cuts = new Map<string, { bytes: number; dropAfter: Promise<unknown> | undefined }>();
  const corrupted = new Set<string>();
  let token: string | undefined;
  let requestListener: ((request: HubRequest) => void) | undefined;

  const listing = () => ({
    id: repo,
    sha: commit,
    siblings: [...files].map(([rfilename, content]) =>
      LFS_SUFFIXES.some((s) => rfilename.endsWith(s))
        ? { rfilename, size: content.length, blobId: gitBlobId(Buffer.from('lfs pointer')), lfs: { sha256: sha256(content), size: content.length, pointerSize: 134 } }
        : { rfilename, size: content.length, blobId: gitBlobId(content) },
    ),
  });

  const serveFile = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const original = files.get(path);
    if (!original) return void res.writeHead(404).end('Entry not found');
    const content = corrupted.delete(path) ? Buffer.from(original) : original;
    const middle = content.length >> 1;
    if (content !== original) content.writeUInt8(content.readUInt8(middle) ^ 0xff, middle);
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = content.subarray(start);
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) };
    if (start > 0) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${content.length - 1}/${content.length}` });
    else res.writeHead(200, headers);
    const cut = cuts.get(path);
    if (cut === undefined) return void res.end(body);
    cuts.delete(path);
    res.write(body.subarray(0, cut.bytes), () => void Promise.resolve(cut.dropAfter).finally(() => res.destroy()));
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    const request = { path, range: req.headers.range, authorization: req.headers.authorization };
    requests.push(request);
    requestListener?.(request);
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"Invalid credentials"}');
    if (path === `/api/models/${repo}/revision/main` && url.searchParams.get('blobs') === 'true') {
      return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(listing()));
    }
    const resolvePrefix = `/${repo}/resolve/main/`;
    if (path.startsWith(resolvePrefix)) {
      const file = path.slice(resolvePrefix.length);
      // The hub redirects LFS files to its CDN; the client must follow and keep its Range header.
      if (LFS_SUFFIXES.some((s) => file.endsWith(s))) return void res.writeHead(302, { Location: `/cdn/${commit}/${file}` }).end();
      return serveFile(req, res, file);
    }
    const cdnPrefix = `/cdn/${commit}/`;
    if (path.startsWith(cdnPrefix)) return serveFile(req, res, path.slice(cdnPrefix.length));
    res.writeHead(404).end('Repository not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    commit,
    files,
    cutOnce: (path, bytes, dropAfter) => cuts.set(path, { bytes, dropAfter }),
    corruptOnce: (path) => corrupted.add(path),
    requireToken: (value) => {
      token = value;
    },
    onRequest: (listener) => {
      requestListener = listener;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

function gitBlobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat();
}
