// Reads an ONNX model with its external data (the `.onnx_data` files big exports keep beside the
// graph) into memory, reads float initializers, and writes a model back, inline or with external data.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';

export const DATA_TYPE = onnx.TensorProto.DataType;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** protobuf refuses messages of 2 GiB or more; above this the weights go to a `.onnx_data` file. */
const INLINE_LIMIT_BYTES = 1.8e9;

/** Initializers of at least this size go to the external data file; small ones stay in the graph. */
const EXTERNAL_MIN_BYTES = 1024;

class OnnxFileError extends Error {
  override readonly name = 'OnnxFileError';
}

/** The model with every external initializer's bytes loaded into `rawData`. */
export async function readOnnxModel(path: string): Promise<onnx.ModelProto> {
  return parseOnnxModel(await readFile(path), path);
}

/** `bytes` are the graph file at `path` (external data is looked up beside it). */
export function parseOnnxModel(bytes: Uint8Array, path: string): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxFileError(`${path} is not an ONNX model (${(error as Error).message}); re-fetch or regenerate it`);
  }
  for (const tensor of model.graph?.initializer ?? []) {
    if (tensor.dataLocation === EXTERNAL) loadExternalData(tensor, dirname(path), path);
  }
  return model;
}

function loadExternalData(tensor: onnx.ITensorProto, dir: string, modelPath: string): void {
  const entries = new Map((tensor.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new OnnxFileError(`${modelPath}: initializer ${tensor.name} is stored externally but names no location`);
  const file = join(dir, location);
  const offset = Number(entries.get('offset') ?? '0');
  const length = entries.has('length') ? Number(entries.get('length')) : tensorByteLength(tensor);
  const data = Buffer.alloc(length);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new OnnxFileError(`${modelPath}: initializer ${tensor.name} is stored in ${location}, which is missing beside the graph (fetch the .onnx_data file with the model)`);
  }
  try {
    const read = readSync(fd, data, 0, length, offset);
    if (read !== length) throw new OnnxFileError(`${modelPath}: ${location} ends before initializer ${tensor.name} (wanted ${length} bytes at ${offset}, got ${read}); the file is truncated`);
  } finally {
    closeSync(fd);
  }
  tensor.rawData = data;
  tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  tensor.externalData = [];
}

const ELEMENT_BYTES: Partial<Record<number, number>> = {
  [DATA_TYPE.FLOAT]: 4,
  [DATA_TYPE.UINT8]: 1,
  [DATA_TYPE.INT8]: 1,
  [DATA_TYPE.INT32]: 4,
  [DATA_TYPE.INT64]: 8,
  [DATA_TYPE.FLOAT16]: 2,
  [DATA_TYPE.BFLOAT16]: 2,
  [DATA_TYPE.DOUBLE]: 8,
  [DATA_TYPE.BOOL]: 1,
};

function tensorByteLength(tensor: onnx.ITensorProto): number {
  const element = ELEMENT_BYTES[tensor.dataType ?? 0];
  if (element === undefined) throw new OnnxFileError(`initializer ${tensor.name} has data type ${tensor.dataType}, whose size this tool does not know`);
  return element * elementCount(tensor.dims ?? []);
}

function elementCount(dims: readonly unknown[]): number {
  return dims.reduce<number>((product, d) => product * Number(d), 1);
}

/** The float32 values of a tensor (raw little-endian bytes or the float_data field). */
export function floatValues(tensor: onnx.ITensorProto): Float32Array {
  if (tensor.dataType !== DATA_TYPE.FLOAT) throw new OnnxFileError(`tensor ${tensor.name} is not float32`);
  const raw = tensor.rawData;
  if (raw && raw.byteLength > 0) {
    // A view needs 4-byte alignment; protobuf gives none, so copy when the bytes are misaligned
    // (with the Uint8Array constructor: a Node Buffer's slice() is a view, not a copy).
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    return new Float32Array(new Uint8Array(raw).buffer);
  }
  return Float32Array.from(tensor.floatData ?? []);
}

export function tensorBytes(tensor: onnx.ITensorProto): number {
  const raw = tensor.rawData?.byteLength ?? 0;
  return raw > 0 ? raw : tensorByteLength(tensor);
}

export interface WrittenOnnx {
  readonly graphBytes: number;
  /** The `.onnx_data` file beside the graph, when the weights went there. */
  readonly externalDataFile?: string;
  readonly externalDataBytes: number;
}

/**
 * Writes `model` to `path`. With `externalData` (or when its initializers would pass protobuf's
 * limit) every initializer of 1 KiB or more goes, 64-byte aligned, to `{file}_data` beside it.
 */
export async function writeOnnxModel(path: string, model: onnx.ModelProto, options: { readonly externalData?: boolean } = {}): Promise<WrittenOnnx> {
  const initializers = model.graph?.initializer ?? [];
  const total = initializers.reduce((sum, t) => sum + tensorBytes(t), 0);
  if (!(options.externalData ?? total > INLINE_LIMIT_BYTES)) {
    const bytes = onnx.ModelProto.encode(model).finish();
    await writeFile(path, bytes);
    return { graphBytes: bytes.byteLength, externalDataBytes: 0 };
  }
  const location = `${basename(path)}_data`;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const moved: { tensor: onnx.ITensorProto; raw: Uint8Array }[] = [];
  for (const tensor of initializers) {
    const raw = tensor.rawData;
    if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) continue;
    const padding = (64 - (offset % 64)) % 64;
    if (padding > 0) chunks.push(new Uint8Array(padding));
    offset += padding;
    chunks.push(raw);
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
    tensor.dataLocation = EXTERNAL;
    tensor.rawData = new Uint8Array(0);
    moved.push({ tensor, raw });
    offset += raw.byteLength;
  }
  try {
    await writeFile(join(dirname(path), location), chunks);
    const bytes = onnx.ModelProto.encode(model).finish();
    await writeFile(path, bytes);
    return { graphBytes: bytes.byteLength, externalDataFile: location, externalDataBytes: offset };
  } finally {
    // The caller's model keeps its weights in memory, as before the call.
    for (const { tensor, raw } of moved) {
      tensor.rawData = raw;
      tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      tensor.externalData = [];
    }
  }
}
