// A single-consumer async queue: the scheduler pushes a request's events as steps run, the caller
// iterates them; breaking out of the loop (or an early `return`) reports a cancel to the producer.

export class EventChannel<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((error: unknown) => void) | undefined;
  private ended = false;
  private error: unknown;
  private iterated = false;

  /** @param onCancel called once when the consumer stops iterating before the channel ended */
  constructor(private readonly onCancel: () => void) {}

  get closed(): boolean {
    return this.ended;
  }

  push(value: T): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter) {
      this.clearWaiter();
      waiter({ value, done: false });
    } else {
      this.buffer.push(value);
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const waiter = this.waiter;
    this.clearWaiter();
    waiter?.({ value: undefined, done: true });
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const failWaiter = this.failWaiter;
    this.clearWaiter();
    failWaiter?.(error);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error('a generation can be iterated only once');
    this.iterated = true;
    return {
      next: () => {
        const value = this.buffer.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.error !== undefined) {
          const error = this.error;
          this.error = undefined;
          return Promise.reject(error);
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
      return: () => {
        if (!this.ended) {
          this.ended = true;
          this.buffer.length = 0;
          this.onCancel();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private clearWaiter(): void {
    this.waiter = undefined;
    this.failWaiter = undefined;
  }
}
