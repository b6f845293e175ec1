// A forward pass's inputs besides the cache (input_ids, attention_mask, position_ids, use_cache_branch)
// from the past's row lengths, shared by the host and the device cache; and the byte count of feeds.
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from './model';

/** What a step needs to know about its past: rows, their real lengths, and the padded past length. */
export interface PastRows {
  readonly batchSize: number;
  readonly pastLength: number;
  readonly lengths: readonly number[];
}

export interface StepFeeds {
  /** input_ids, attention_mask, position_ids and use_cache_branch as the graph takes them. */
  readonly feeds: Record<string, ort.Tensor>;
  /** Each row's real length after the step. */
  readonly lengths: number[];
}

const CACHE_BRANCH_ON = new ort.Tensor('bool', Uint8Array.of(1), [1]);
const CACHE_BRANCH_OFF = new ort.Tensor('bool', Uint8Array.of(0), [1]);

/**
 * The step's inputs for `seq` new tokens of every row (`inputIds` is `[batch, seq]` row-major). The
 * past's left padding is masked out and does not count in position ids. `newLengths[r]` (default
 * `seq`) says how many of row r's new tokens are real, the rest being left padding; that is only
 * allowed on an empty past, so that every row's real tokens stay contiguous at the right.
 */
export function stepFeeds(
  past: PastRows,
  inputIds: BigInt64Array,
  seq: number,
  newLengths: readonly number[] | undefined,
  model: Pick<LoadedModel, 'hasPositionIds' | 'usesCacheBranch'>,
): StepFeeds {
  const batch = past.batchSize;
  const pastLength = past.pastLength;
  if (newLengths && pastLength > 0 && newLengths.some((n) => n !== seq)) {
    throw new Error('left-padded new tokens need an empty past (the padding would split a row)');
  }
  const total = pastLength + seq;
  const mask = new BigInt64Array(batch * total);
  const positions = new BigInt64Array(batch * seq);
  const lengths = new Array<number>(batch);
  for (let r = 0; r < batch; r++) {
    const length = past.lengths[r] ?? 0;
    const real = newLengths?.[r] ?? seq;
    const padding = seq - real;
    mask.fill(1n, r * total + (pastLength - length), r * total + pastLength);
    mask.fill(1n, r * total + pastLength + padding, (r + 1) * total);
    for (let j = padding; j < seq; j++) positions[r * seq + j] = BigInt(length + j - padding);
    lengths[r] = length + real;
  }
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', inputIds, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, total]),
  };
  if (model.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', positions, [batch, seq]);
  if (model.usesCacheBranch) feeds.use_cache_branch = pastLength > 0 ? CACHE_BRANCH_ON : CACHE_BRANCH_OFF;
  return { feeds, lengths };
}

const ELEMENT_BYTES: Partial<Record<ort.Tensor.Type, number>> = { float32: 4, float16: 2, int64: 8, bool: 1, int32: 4, uint8: 1, int8: 1 };

/**
 * Bytes of the host-memory tensors among `tensors`: what crosses between the JS heap and onnxruntime.
 * A tensor left on the device ('gpu-buffer') counts nothing; its data is never touched here.
 */
export function feedBytes(tensors: Readonly<Record<string, ort.Tensor>>): number {
  let bytes = 0;
  for (const tensor of Object.values(tensors)) {
    if (tensor.location !== 'cpu') continue;
    bytes += tensor.size * (ELEMENT_BYTES[tensor.type] ?? 0);
  }
  return bytes;
}
