// Applies a request's stop strings to streamed text: emits only text that cannot be the start of a
// stop string, and ends at the first completed stop string, which itself is never emitted. Matching
// works across any split of the text into deltas, and the result does not depend on the split.

export interface StopMatcherResult {
  /** Text that is final and safe to send now (may be ''). */
  readonly text: string;
  /** The stop string that just completed; the text before it has been returned, nothing after it will be. */
  readonly stop?: string;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly longest: number;
  /** The longest suffix of the text so far that is a proper prefix of some stop string. */
  private held = '';
  private matched: string | undefined;
  private finished = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    this.longest = this.stops.reduce((max, s) => (s.length > max ? s.length : max), 0);
  }

  /** The stop string that ended the text, once one has; later deltas are then ignored. */
  get stoppedBy(): string | undefined {
    return this.matched;
  }

  push(delta: string): StopMatcherResult {
    if (this.finished) return { text: '' };
    if (this.stops.length === 0) return { text: delta };
    const buffer = this.held + delta;
    // The stop that completes first (smallest end) is the one streaming token by token would hit
    // first; among stops ending at the same place the longer one started earlier and wins.
    let stop: string | undefined;
    let stopStart = 0;
    let stopEnd = Number.POSITIVE_INFINITY;
    for (const candidate of this.stops) {
      const start = buffer.indexOf(candidate);
      if (start < 0) continue;
      const end = start + candidate.length;
      if (end < stopEnd || (end === stopEnd && start < stopStart)) {
        stop = candidate;
        stopStart = start;
        stopEnd = end;
      }
    }
    if (stop !== undefined) {
      this.matched = stop;
      this.finished = true;
      this.held = '';
      return { text: buffer.slice(0, stopStart), stop };
    }
    const keep = this.heldSuffixLength(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep) };
  }

  /** The end of generation (length, EOS): releases the held-back text, which matched no stop string. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    this.finished = true;
    return rest;
  }

  private heldSuffixLength(buffer: string): number {
    for (let k = Math.min(buffer.length, this.longest - 1); k > 0; k--) {
      const suffix = buffer.slice(buffer.length - k);
      if (this.stops.some((s) => s.startsWith(suffix))) return k;
    }
    return 0;
  }
}
