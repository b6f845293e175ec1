// Starts one engine request per prompt and merges their events into one stream, each tagged
// with its prompt's index (OpenAI numbers choices prompt-major: index = prompt * n + choice).
import type { Engine, GenerationEvent } from '../engine/types';
import type { RequestPlan } from './request-plan';

export interface TaggedEvent {
  readonly promptIndex: number;
  readonly event: GenerationEvent;
}

async function* tag(promptIndex: number, events: AsyncIterable<GenerationEvent>): AsyncGenerator<TaggedEvent> {
  for await (const event of events) yield { promptIndex, event };
}

/** Interleaves several async iterables in arrival order; returning early closes all of them. */
async function* merge<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number): void => {
    const iterator = iterators[index];
    if (iterator) pending.set(index, iterator.next().then((result) => ({ index, result })));
  };
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
      } else {
        pull(index);
        yield result.value;
      }
    }
  } finally {
    await Promise.allSettled(iterators.map((iterator) => iterator.return?.()));
  }
}

/**
 * Submits every prompt now, so that validation, context and overload errors are thrown before
 * the caller commits to a response; if a later prompt is refused, the earlier ones are cancelled.
 */
export function startGeneration(engine: Engine, plan: RequestPlan, signal: AbortSignal): AsyncIterable<TaggedEvent> {
  const controller = new AbortController();
  const forward = (): void => controller.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  const streams: AsyncIterable<TaggedEvent>[] = [];
  try {
    plan.prompts.forEach((prompt, promptIndex) => {
      const events = engine.generate({ promptIds: prompt.ids, params: plan.params, signal: controller.signal });
      streams.push(tag(promptIndex, events));
    });
  } catch (error) {
    controller.abort(error);
    signal.removeEventListener('abort', forward);
    throw error;
  }
  const first = streams[0];
  const merged = streams.length === 1 && first ? first : merge(streams);
  return (async function* () {
    try {
      yield* merged;
    } finally {
      signal.removeEventListener('abort', forward);
      // Stops the engine's work for anything the consumer did not read to the end.
      controller.abort();
    }
  })();
}
