// Seeded pseudo-random numbers for sampling: xoshiro128** seeded through splitmix32, so the same
// (seed, stream) always gives the same sequence and each choice of a request gets its own stream.
import { randomBytes } from 'node:crypto';

const TWO_POW_32 = 4294967296;
// Read once: global lookups are slow inside vm contexts such as jest's.
const { imul } = Math;

/** A uniform random source; one per choice so choices of one request never share draws. */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of randomness. */
  nextFloat(): number;
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
}

/** splitmix32: spreads any 32-bit input over the whole state so nearby seeds give unrelated streams. */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = imul(z ^ (z >>> 16), 0x85ebca6b);
  z = imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

class Xoshiro128StarStar implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(words: readonly [number, number, number, number]) {
    [this.s0, this.s1, this.s2, this.s3] = words;
    // An all-zero state would only ever produce zeros; splitmix32 output makes this practically
    // impossible, but the guard keeps the generator correct for any input.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextUint32(): number {
    const result = imul(rotl(imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  nextFloat(): number {
    return this.nextUint32() / TWO_POW_32;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A generator for `seed` (any safe integer, negative included) and `stream` (e.g. the choice index).
 * Undefined seed: a random seed from the OS, for requests that did not ask for reproducibility.
 */
export function createRng(seed: number | undefined, stream = 0): Rng {
  if (seed === undefined) {
    const bytes = randomBytes(16);
    const words = [0, 4, 8, 12].map((offset) => bytes.readUInt32LE(offset));
    return new Xoshiro128StarStar(words as [number, number, number, number]);
  }
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(stream)) {
    throw new RangeError(`seed and stream must be safe integers (got seed=${seed}, stream=${stream})`);
  }
  // Chain every input through the mixer (all 53 bits of the seed, then the stream) before drawing
  // any state word: xoshiro's first output depends on one word alone, so each word must already
  // depend on the stream, or all choices of a seeded request would draw the same first token.
  let mixed = splitmix32({ x: seed % TWO_POW_32 | 0 });
  mixed = splitmix32({ x: mixed ^ (Math.floor(seed / TWO_POW_32) | 0) });
  mixed = splitmix32({ x: mixed ^ (stream | 0) });
  mixed = splitmix32({ x: mixed ^ (Math.floor(stream / TWO_POW_32) | 0) });
  const state = { x: mixed };
  const a = splitmix32(state);
  const b = splitmix32(state);
  const c = splitmix32(state);
  const d = splitmix32(state);
  return new Xoshiro128StarStar([a, b, c, d]);
}
