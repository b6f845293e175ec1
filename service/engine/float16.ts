// IEEE half-precision support for fp16 graphs: the raw 16-bit view of a float16 tensor's data
// (Uint16Array on Node 20, Float16Array where the runtime has it), widening to float32, and float16
// inputs onnxruntime-node can read.
import type * as ort from 'onnxruntime-node';

/** A float16 tensor's data as raw bits, without copying. */
export function float16Bits(data: ArrayBufferView & { readonly length: number }): Uint16Array {
  if (data instanceof Uint16Array) return data;
  if (data.byteLength !== data.length * 2) throw new TypeError(`expected 16-bit float16 data, got ${data.constructor.name}`);
  return new Uint16Array(data.buffer, data.byteOffset, data.length);
}

let table: Float32Array | undefined;

/** Every float16 bit pattern's value, built once (256 KB): widening is then one lookup per element. */
function widening(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[bits] = fraction === 0 ? sign * Infinity : NaN;
    else table[bits] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return table;
}

/** float16 bits -> float32 values (a new array). */
export function widenFloat16(bits: Uint16Array): Float32Array {
  const values = widening();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = values[bits[i]!]!;
  return out;
}

/** A host float32 or float16 tensor's values as float32 (float16 widened into a new array; float32 as it is). */
export function float32Values(tensor: ort.Tensor): Float32Array {
  return tensor.type === 'float16' ? widenFloat16(float16Bits(tensor.data as Uint16Array)) : (tensor.data as Float32Array);
}

/**
 * A float16 tensor onnxruntime-node 1.30 can read as an input. Where the runtime has Float16Array
 * (Node 23+, our Node 24 images) onnxruntime-common stores float16 data as one, and the binding
 * reads its byte length as 0 ("not enough space: expected N, got 0"; microsoft/onnxruntime#32323,
 * open), while it reads a Uint16Array right: the tensor's data is shadowed by a Uint16Array view.
 */
export function float16Input(tensor: ort.Tensor): ort.Tensor {
  const data = tensor.data as Uint16Array;
  if (data instanceof Uint16Array) return tensor;
  Object.defineProperty(tensor, 'data', { value: float16Bits(data), configurable: true });
  return tensor;
}
