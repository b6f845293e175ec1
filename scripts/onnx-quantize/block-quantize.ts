// Block-wise weight quantization in the layout of onnxruntime's com.microsoft MatMulNBits: for each
// output column n, K input rows cut into blocks of `blockSize`, each with its own scale (and zero point).

export type Bits = 4 | 8;

export interface BlockQuantizeOptions {
  readonly bits: Bits;
  /** A power of two >= 16 (MatMulNBits' rule); 32 is what onnxruntime's own quantizer uses. */
  readonly blockSize: number;
  /**
   * Symmetric: no zero points; each block's largest-magnitude value maps to the lowest code, as
   * MLAS' own quantizer does, so all 2^bits codes are used. Asymmetric: a zero point per block, so
   * the block's [min, max] (with 0 inside) spans the codes.
   */
  readonly symmetric: boolean;
}

/** MatMulNBits' B, scales and zero_points inputs for one [K, N] weight. */
export interface BlockQuantized {
  readonly k: number;
  readonly n: number;
  readonly blocksPerColumn: number;
  /** uint8 [N, blocksPerColumn, blockSize * bits / 8]; 4-bit codes two to a byte, low nibble first. */
  readonly data: Uint8Array;
  /** float [N * blocksPerColumn] */
  readonly scales: Float32Array;
  /** uint8 [N * ceil(blocksPerColumn * bits / 8)], packed like data; absent when symmetric. */
  readonly zeroPoints?: Uint8Array;
}

/**
 * Quantizes a weight given as N columns of K values each: `column(n)` returns the K inputs that
 * output n multiplies (for MatMul's B [K, N] that is column n, for a tied embedding [N, K] row n).
 */
export function quantizeBlockwise(k: number, n: number, column: (index: number, out: Float32Array) => void, options: BlockQuantizeOptions): BlockQuantized {
  const { bits, blockSize, symmetric } = options;
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new Error(`block size ${blockSize} is not a power of two >= 16 (MatMulNBits needs one; 32 is usual)`);
  }
  const blocksPerColumn = Math.ceil(k / blockSize);
  const blockBytes = (blockSize * bits) / 8;
  const zeroPointBytesPerColumn = Math.ceil((blocksPerColumn * bits) / 8);
  const data = new Uint8Array(n * blocksPerColumn * blockBytes);
  const scales = new Float32Array(n * blocksPerColumn);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * zeroPointBytesPerColumn);
  const maxCode = (1 << bits) - 1;
  const midCode = 1 << (bits - 1);
  const values = new Float32Array(k);
  const codes = new Uint8Array(blockSize);

  for (let col = 0; col < n; col++) {
    column(col, values);
    for (let block = 0; block < blocksPerColumn; block++) {
      const start = block * blockSize;
      const end = Math.min(start + blockSize, k);
      let scale: number;
      let zeroPoint: number;
      if (symmetric) {
        let extreme = 0;
        for (let i = start; i < end; i++) if (Math.abs(values[i]!) > Math.abs(extreme)) extreme = values[i]!;
        scale = Math.fround(extreme / -midCode);
        zeroPoint = midCode;
      } else {
        let min = 0;
        let max = 0;
        for (let i = start; i < end; i++) {
          const v = values[i]!;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        scale = Math.fround((max - min) / maxCode);
        zeroPoint = scale === 0 ? 0 : clamp(roundHalfEven(-min / scale), 0, maxCode);
      }
      const reciprocal = scale === 0 ? 0 : 1 / scale;
      // The padding past K (last block) encodes 0: the zero point.
      codes.fill(zeroPoint);
      for (let i = start; i < end; i++) codes[i - start] = clamp(roundHalfEven(values[i]! * reciprocal) + zeroPoint, 0, maxCode);
      const blockIndex = col * blocksPerColumn + block;
      scales[blockIndex] = scale;
      packCodes(codes, bits, data, blockIndex * blockBytes);
      if (zeroPoints) {
        const byte = col * zeroPointBytesPerColumn + ((block * bits) >> 3);
        zeroPoints[byte] = bits === 8 ? zeroPoint : (zeroPoints[byte] as number) | (zeroPoint << ((block & 1) * 4));
      }
    }
  }
  return { k, n, blocksPerColumn, data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

function packCodes(codes: Uint8Array, bits: Bits, out: Uint8Array, offset: number): void {
  if (bits === 8) {
    out.set(codes, offset);
    return;
  }
  for (let i = 0; i < codes.length; i += 2) out[offset + (i >> 1)] = (codes[i] as number) | ((codes[i + 1] as number) << 4);
}

/** Round half to even, as numpy's round and onnxruntime's quantizers do. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}
