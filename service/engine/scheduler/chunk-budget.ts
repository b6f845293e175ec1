// How many prompt tokens one prefill chunk may run while other sequences decode. Fixed, or sized
// online ('auto') so that a step with a chunk takes about STEP_FACTOR times a plain decode step:
// Sarathi-Serve's token budget from a time-between-tokens target, measured instead of profiled, so
// it follows the hardware, the model, and a prompt's growing past (later chunks cost more).

/** 'auto', a fixed number of tokens, or 0 for whole prompts (no interleaving). */
export type PrefillChunking = number | 'auto';

/** A step with a prefill chunk takes about this many plain decode steps: running streams get half their speed. */
export const STEP_FACTOR = 2;
/** Smallest auto chunk: below it the per-pass cost (reading every weight) makes the prompt's prefill crawl. */
export const MIN_AUTO_CHUNK_TOKENS = 4;
/** Where auto starts, before it has measured a chunk. */
const INITIAL_AUTO_CHUNK_TOKENS = 16;

export class ChunkBudget {
  /** Kept fractional so that the damping converges instead of sticking next to the right size. */
  private tokens: number;

  /** @param maxTokens the most any chunk runs (the prefill run size) */
  constructor(
    private readonly chunking: PrefillChunking,
    private readonly maxTokens: number,
  ) {
    this.tokens = chunking === 'auto' ? Math.min(INITIAL_AUTO_CHUNK_TOKENS, maxTokens) : Math.min(chunking, maxTokens);
  }

  /** False for 0: new prompts are prefilled whole before the next decode step. */
  get interleaves(): boolean {
    return this.chunking !== 0;
  }

  /** Prompt tokens the next chunk may run while others decode. */
  next(): number {
    return Math.round(this.tokens);
  }

  /**
   * A chunk of `tokens` (padded) took `seconds`, while a decode step takes `decodeSeconds`. Only a
   * chunk of the budgeted size counts: one cut short by its prompt's end is mostly per-pass cost.
   */
  observe(tokens: number, seconds: number, decodeSeconds: number): void {
    if (this.chunking !== 'auto' || tokens !== this.next() || seconds <= 0 || decodeSeconds <= 0) return;
    const proposed = (tokens * (STEP_FACTOR - 1) * decodeSeconds) / seconds;
    // Halfway there (geometrically), so that one slow or fast step does not swing the size.
    const damped = Math.sqrt(this.tokens * proposed);
    this.tokens = Math.min(this.maxTokens, Math.max(MIN_AUTO_CHUNK_TOKENS, damped));
  }
}
