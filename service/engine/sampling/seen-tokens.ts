// A reusable "set of token ids seen in this call" for penalties that apply once per distinct id,
// without allocating a Set on every decode step.

export class SeenTokens {
  private stamps = new Uint32Array(0);
  private current = 0;

  /** Starts a new, empty set covering ids 0..vocabSize-1. O(1) except when the size changes. */
  reset(vocabSize: number): void {
    if (this.stamps.length !== vocabSize) {
      this.stamps = new Uint32Array(vocabSize);
      this.current = 0;
    }
    this.current++;
    // After 2^32 - 1 calls the stamps would wrap and old marks would look current again.
    if (this.current === 0xffffffff) {
      this.stamps.fill(0);
      this.current = 1;
    }
  }

  /** Marks `id` and says whether it was new in this set; ids outside the vocabulary are never new. */
  add(id: number): boolean {
    if (!(id >= 0 && id < this.stamps.length) || this.stamps[id] === this.current) return false;
    this.stamps[id] = this.current;
    return true;
  }
}
