// float32 -> IEEE half precision, for writing the fp16 weights of model:make's fp16 graphs.

/** float32 -> float16 bits, rounding to nearest even as numpy's astype(float16) does; overflow becomes infinity. */
export function narrowToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    const mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mantissa | 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let rounded = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      if (rest > half || (rest === half && (rounded & 1) === 1)) rounded++;
      out[i] = sign | rounded;
    } else {
      let rounded = (e << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (rounded & 1) === 1)) rounded++;
      out[i] = sign | rounded;
    }
  }
  return out;
}
