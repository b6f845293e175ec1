// Block-wise quantization in MatMulNBits' layout, checked against a dequantization written from the
// op's definition: value = (code - zero_point) * scale, zero point 2^(bits-1) when none is stored.
import { type BlockQuantized, quantizeBlockwise, roundHalfEven } from '../../../scripts/onnx-quantize/block-quantize';

function dequantize(q: BlockQuantized, bits: 4 | 8, blockSize: number): Float32Array[] {
  const blockBytes = (blockSize * bits) / 8;
  const zeroPointBytes = Math.ceil((q.blocksPerColumn * bits) / 8);
  const code = (index: number, bytes: Uint8Array, offset: number) =>
    bits === 8 ? (bytes[offset + index] as number) : ((bytes[offset + (index >> 1)] as number) >> ((index & 1) * 4)) & 0xf;
  return Array.from({ length: q.n }, (_, col) => {
    const out = new Float32Array(q.k);
    for (let i = 0; i < q.k; i++) {
      const block = Math.floor(i / blockSize);
      const blockIndex = col * q.blocksPerColumn + block;
      const zeroPoint = q.zeroPoints ? code(block, q.zeroPoints, col * zeroPointBytes) : 1 << (bits - 1);
      out[i] = (code(i % blockSize, q.data, blockIndex * blockBytes) - zeroPoint) * (q.scales[blockIndex] as number);
    }
    return out;
  });
}

/** Deterministic columns with a spread of magnitudes, one column all zeros. */
function columns(k: number, n: number): Float32Array[] {
  return Array.from({ length: n }, (_, col) => Float32Array.from({ length: k }, (_, i) => (col === 2 ? 0 : Math.sin(i * 1.3 + col) * (1 + (i % 7)) * 0.1)));
}

describe('quantizeBlockwise', () => {
  const cases = [
    { bits: 4, symmetric: true },
    { bits: 4, symmetric: false },
    { bits: 8, symmetric: true },
    { bits: 8, symmetric: false },
  ] as const;

  // Asymmetric blocks span [min, max]: every value is within half a step. Symmetric ones put the
  // largest magnitude on the lowest code, so the other side reaches one step less far and a value
  // there near that magnitude can be off by a whole step.
  it.each(cases)('reconstructs each weight within its step bound ($bits-bit, symmetric $symmetric)', ({ bits, symmetric }) => {
    const k = 80; // not a multiple of the block: the last block is padded
    const source = columns(k, 5);
    const q = quantizeBlockwise(k, source.length, (col, out) => out.set(source[col] as Float32Array), { bits, blockSize: 32, symmetric });
    expect(q.blocksPerColumn).toBe(3);
    expect(q.data.byteLength).toBe(5 * 3 * ((32 * bits) / 8));
    expect(q.zeroPoints === undefined).toBe(symmetric);
    const restored = dequantize(q, bits, 32);
    source.forEach((column, col) => {
      column.forEach((value, i) => {
        const step = Math.abs(q.scales[col * 3 + Math.floor(i / 32)] as number);
        expect(Math.abs((restored[col] as Float32Array)[i]! - value)).toBeLessThanOrEqual((symmetric ? step : step / 2) + 1e-6);
      });
    });
  });

  it('maps a symmetric block\'s largest magnitude exactly onto the lowest code, as MLAS does', () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? -0.8 : i / 100));
    const q = quantizeBlockwise(32, 1, (_, out) => out.set(values), { bits: 4, blockSize: 32, symmetric: true });
    expect(q.scales[0]).toBeCloseTo(0.1, 6);
    expect(dequantize(q, 4, 32)[0]?.[5]).toBeCloseTo(-0.8, 6);
  });

  it('encodes an all-zero column as zeros', () => {
    const q = quantizeBlockwise(32, 1, (_, out) => out.fill(0), { bits: 4, blockSize: 32, symmetric: false });
    expect(Array.from(dequantize(q, 4, 32)[0] as Float32Array).every((v) => v === 0)).toBe(true);
  });

  it('refuses a block size MatMulNBits cannot use', () => {
    expect(() => quantizeBlockwise(32, 1, () => undefined, { bits: 4, blockSize: 24, symmetric: true })).toThrow(/block size 24 is not a power of two >= 16/);
  });
});

describe('roundHalfEven', () => {
  it('rounds halves to the even neighbour, as numpy does', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map((v) => roundHalfEven(v) + 0)).toEqual([0, 2, 2, 0, -2, 2, 3]);
  });
});
