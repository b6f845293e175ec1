// The Hugging Face hub's HTTP layout: repository ids, the file listing of a revision, file URLs and
// the bearer token. Works against any server with the same layout (HF_ENDPOINT, mirrors, tests).
import { z } from 'zod';
import { ModelFetchError } from './errors';

export interface HubOptions {
  /** @default 'https://huggingface.co' (HF_ENDPOINT) */
  readonly endpoint: string;
  /** Sent as `Authorization: Bearer` when set (HF_TOKEN). */
  readonly token?: string;
  /** Abort a request that gets no response or no data for this long. @default 30_000 */
  readonly timeoutMs?: number;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/**
 * Short names for the repositories known to serve a GPT-2 family ONNX export with its tokenizer
 * (the README's "Models" names the listings each was checked against): onnx-community's exports
 * carry every dtype; distilgpt2 and gpt2-medium have no onnx-community export we could find, so
 * they point at Xenova's (fp32 and q8 merged decoders) and OpenAI's own repository (fp32 merged).
 */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  distilgpt2: 'Xenova/distilgpt2',
  gpt2: 'onnx-community/gpt2-ONNX',
  'gpt2-medium': 'openai-community/gpt2-medium',
  'gpt2-large': 'onnx-community/gpt2-large-ONNX',
  'gpt2-xl': 'onnx-community/gpt2-xl-ONNX',
};

const RepoId = z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected owner/name, like onnx-community/gpt2-ONNX').refine((id) => !id.split('/').includes('..'), 'must not contain ..');
const Revision = z.string().regex(/^[\w.\-/]+$/, 'expected a branch, tag or commit').refine((r) => !r.split('/').includes('..'), 'must not contain ..');

const HubEnv = z.object({
  HF_ENDPOINT: z.url({ error: 'HF_ENDPOINT must be an http(s) URL' }).optional(),
  HF_TOKEN: z.string().min(1).optional(),
});

export function hubOptionsFromEnv(env: NodeJS.ProcessEnv): HubOptions {
  const parsed = HubEnv.safeParse({ HF_ENDPOINT: env.HF_ENDPOINT || undefined, HF_TOKEN: env.HF_TOKEN || undefined });
  if (!parsed.success) throw new ModelFetchError(parsed.error.issues.map((i) => i.message).join('; '));
  return { endpoint: parsed.data.HF_ENDPOINT ?? DEFAULT_ENDPOINT, ...(parsed.data.HF_TOKEN ? { token: parsed.data.HF_TOKEN } : {}) };
}

/** `gpt2` -> `onnx-community/gpt2-ONNX`; `owner/name` as is; anything else is rejected with the reason. */
export function resolveRepoId(modelId: string): string {
  const repo = MODEL_ALIASES[modelId] ?? modelId;
  const parsed = RepoId.safeParse(repo);
  if (!parsed.success) throw new ModelFetchError(`Model id ${JSON.stringify(modelId)} is not a hub repository (${parsed.error.issues[0]?.message}); known short names: ${Object.keys(MODEL_ALIASES).join(', ')}`);
  return repo;
}

export function checkRevision(revision: string): string {
  const parsed = Revision.safeParse(revision);
  if (!parsed.success) throw new ModelFetchError(`Revision ${JSON.stringify(revision)} is not valid (${parsed.error.issues[0]?.message})`);
  return revision;
}

export interface RepoFile {
  readonly path: string;
  readonly size: number;
  /** Git blob id (sha1 of "blob {size}\0" + content); set for files stored in git. */
  readonly blobId?: string;
  /** sha256 of the content; set for files stored in LFS (the hub's large-file storage). */
  readonly sha256?: string;
}

export interface RepoListing {
  /** The commit the revision pointed at. */
  readonly commit: string;
  readonly files: readonly RepoFile[];
}

const ListingResponse = z.object({
  sha: z.string(),
  siblings: z.array(
    z.object({
      rfilename: z.string(),
      size: z.number().int().nonnegative(),
      blobId: z.string().optional(),
      lfs: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).nullish(),
    }),
  ),
});

export function authHeaders(hub: HubOptions): Record<string, string> {
  return hub.token ? { Authorization: `Bearer ${hub.token}` } : {};
}

export function fileUrl(hub: HubOptions, repo: string, revision: string, path: string): string {
  return `${trimSlash(hub.endpoint)}/${repo}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true: every file with its size and checksum. */
export async function listRepoFiles(hub: HubOptions, repo: string, revision: string): Promise<RepoListing> {
  const url = `${trimSlash(hub.endpoint)}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  let response: Response;
  try {
    response = await fetch(url, { headers: authHeaders(hub), signal: AbortSignal.timeout(hub.timeoutMs ?? 30_000) });
  } catch (error) {
    throw new ModelFetchError(`Could not reach the model hub at ${url} (${describe(error)})`);
  }
  if (!response.ok) {
    const hint = response.status === 401 || response.status === 403 ? '; set HF_TOKEN to a token that can read it' : response.status === 404 ? '; check the model id and revision' : '';
    throw new ModelFetchError(`The model hub answered ${response.status} ${response.statusText} for ${url}${hint}`);
  }
  const parsed = ListingResponse.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw new ModelFetchError(`The model hub's answer for ${url} is not a model listing (${parsed.error.issues[0]?.message})`);
  return {
    commit: parsed.data.sha,
    files: parsed.data.siblings.map((s) => ({
      path: s.rfilename,
      size: s.lfs?.size ?? s.size,
      ...(s.blobId ? { blobId: s.blobId } : {}),
      ...(s.lfs ? { sha256: s.lfs.sha256 } : {}),
    })),
  };
}

/** A git commit id as the hub writes it: 40 lowercase hex digits. */
const COMMIT_ID = /^[0-9a-f]{40}$/;

/**
 * The commit `revision` (a branch, tag or commit) of `modelId` points at now, so an image build can pin it:
 * a commit id is returned as it is, anything else is looked up with the revision listing.
 */
export async function resolveCommit(hub: HubOptions, modelId: string, revision: string): Promise<{ repo: string; commit: string }> {
  const repo = resolveRepoId(modelId);
  checkRevision(revision);
  if (COMMIT_ID.test(revision)) return { repo, commit: revision };
  const { commit } = await listRepoFiles(hub, repo, revision);
  if (!COMMIT_ID.test(commit)) throw new ModelFetchError(`The model hub gave ${JSON.stringify(commit)} as the commit of ${repo}@${revision}, not a 40-digit commit id`);
  return { repo, commit };
}

/** An error's message and its cause's (undici puts the network reason there), e.g. "fetch failed: connect ECONNREFUSED". */
export function describe(error: unknown): string {
  // Duck-typed rather than instanceof: errors from another realm (jest's sandbox) are still errors.
  const messageOf = (value: unknown) => (typeof value === 'object' && value !== null && 'message' in value ? String(value.message) : undefined);
  const message = messageOf(error) ?? String(error);
  const cause = typeof error === 'object' && error !== null && 'cause' in error ? messageOf(error.cause) : undefined;
  return cause === undefined ? message : `${message}: ${cause}`;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
