// A batch's KV cache that lives on the device: its tensors (or the device work that will make them),
// its row lengths, and its lifetime. A cache is consumed by the one forward pass or gather that reads
// it, which frees its device memory right after; one the scheduler drops unread is freed when collected.
import type * as ort from 'onnxruntime-node';
import type { BatchCache } from '../scheduler/batch-model';

/** Owns a cache's tensors until they are freed, once (the finalizer's held value: it must not point back at the cache). */
class TensorHolder {
  private tensors: readonly ort.Tensor[] | undefined;
  private freed = false;

  constructor(private readonly live: Set<TensorHolder>) {
    live.add(this);
  }

  hold(tensors: readonly ort.Tensor[]): void {
    this.tensors = tensors;
    if (this.freed) freeTensors(tensors);
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.live.delete(this);
    if (this.tensors) freeTensors(this.tensors);
  }
}

/** Device memory of caches that were never handed back (the batch emptied, a prefilled request was cancelled). */
const unread = new FinalizationRegistry<TensorHolder>((holder) => holder.free());

/**
 * The device memory of one model's caches not freed yet: freed all at once before the model's
 * sessions are released, since freeing a device buffer after its session is gone crashes the process.
 */
export class CacheMemory {
  readonly live = new Set<TensorHolder>();

  freeAll(): void {
    for (const holder of [...this.live]) holder.free();
  }
}

export class DeviceKvCache implements BatchCache {
  private readonly holder: TensorHolder;
  private consumed = false;

  /**
   * @param pastLength columns of every tensor (`[rows, heads, pastLength, headDim]`); row r's real
   *   tokens are its last `lengths[r]` columns
   * @param ready the tensors (one per layer and kind: key, value), or the device work making them
   */
  constructor(
    readonly batchSize: number,
    readonly pastLength: number,
    readonly lengths: readonly number[],
    private readonly ready: Promise<readonly ort.Tensor[]>,
    memory: CacheMemory,
  ) {
    this.holder = new TensorHolder(memory.live);
    unread.register(this, this.holder, this);
    // Also the handler of a failed gather nobody awaits: its error reaches whoever takes the cache.
    ready.then(
      (tensors) => this.holder.hold(tensors),
      () => undefined,
    );
  }

  /** The tensors, for the one pass that reads this cache; call `release` once that pass is done with them. */
  async take(): Promise<readonly ort.Tensor[]> {
    if (this.consumed) throw new Error('a device KV cache was read twice: a cache handed to forward or gatherRows is consumed by it');
    this.consumed = true;
    return this.ready;
  }

  /** Frees the device memory now. */
  release(): void {
    unread.unregister(this);
    this.holder.free();
  }
}

function freeTensors(tensors: readonly ort.Tensor[]): void {
  for (const tensor of tensors) if (tensor.location === 'gpu-buffer') tensor.dispose();
}
