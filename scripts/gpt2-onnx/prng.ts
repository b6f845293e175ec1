// Seeded pseudo-random numbers so the same preset and seed always give byte-identical weights.

// Bound once: inside a vm context (jest) each global lookup of `Math` in a hot loop is slow.
const { imul, sqrt, log, cos, sin, PI } = Math;

/** mulberry32: a small 32-bit generator, plenty for random weights; returns floats in [0, 1). */
export function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with N(0, std^2) samples (Box-Muller, both outputs used). */
export function fillNormal(out: Float32Array, std: number, next: () => number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - next();
    const u2 = next();
    const radius = std * sqrt(-2 * log(u1));
    out[i] = radius * cos(2 * PI * u2);
    if (i + 1 < out.length) out[i + 1] = radius * sin(2 * PI * u2);
  }
  return out;
}
