// GPT-2's parameters read back from an fp32 ONNX graph by their PyTorch names (the initializers of a
// model:make graph, or of any export that keeps those names), inside the graph or in its external
// data, as a ParameterSource that buildGpt2Graph rebuilds another signature from.
import { closeSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { ParameterSource } from './gpt2-graph';

export class ParameterReadError extends Error {}

/** Reads `graphPath`'s float32 initializers on demand; `close()` releases the external data files. */
export function graphParameters(model: onnx.ModelProto, graphPath: string): { parameters: ParameterSource; read: () => number; close(): void } {
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const files = new Map<string, number>();
  let read = 0;
  const parameters: ParameterSource = (name, dims) => {
    const tensor = byName.get(name) ?? byName.get(name.replace(/^transformer\./, ''));
    const shape = dims.join(' x ');
    if (!tensor) throw new ParameterReadError(`${graphPath} has no initializer ${name} [${shape}]: the rewrite reads GPT-2's parameters by their PyTorch names (model:make's graphs keep them)`);
    const found = (tensor.dims ?? []).map(Number);
    if (found.join(' x ') !== shape) throw new ParameterReadError(`${graphPath}: initializer ${tensor.name} is [${found.join(' x ')}], not [${shape}] as GPT-2's ${name} of config.json's shape`);
    if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT) {
      throw new ParameterReadError(`${graphPath}: initializer ${tensor.name} is not float32 (data type ${tensor.dataType}): rewrite the fp32 graph (MODEL_DTYPE=fp32's onnx/model.onnx)`);
    }
    const values = floats(tensor, dims.reduce((a, b) => a * b, 1), graphPath, files);
    read += values.length;
    return values;
  };
  return {
    parameters,
    read: () => read,
    close() {
      for (const fd of files.values()) closeSync(fd);
      files.clear();
    },
  };
}

function floats(tensor: onnx.ITensorProto, length: number, graphPath: string, files: Map<string, number>): Float32Array {
  if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entry = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value ?? undefined;
    const location = entry('location');
    if (location === undefined) throw new ParameterReadError(`${graphPath}: initializer ${tensor.name} is external but names no location`);
    const path = join(dirname(graphPath), location);
    let fd = files.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      files.set(path, fd);
    }
    const values = new Float32Array(length);
    const bytes = new Uint8Array(values.buffer);
    const got = readSync(fd, bytes, 0, bytes.byteLength, Number(entry('offset') ?? 0));
    if (got !== bytes.byteLength) throw new ParameterReadError(`${path} ends inside initializer ${tensor.name} (read ${got} of ${bytes.byteLength} bytes): the external data is incomplete`);
    return values;
  }
  if (tensor.rawData && tensor.rawData.byteLength > 0) {
    if (tensor.rawData.byteLength !== length * 4) throw new ParameterReadError(`${graphPath}: initializer ${tensor.name} has ${tensor.rawData.byteLength} bytes, not ${length * 4}`);
    // A copy: rawData is a view into the decoded file, at an offset that need not be 4-byte aligned.
    return new Float32Array(new Uint8Array(tensor.rawData).buffer);
  }
  if (tensor.floatData && tensor.floatData.length === length) return Float32Array.from(tensor.floatData);
  throw new ParameterReadError(`${graphPath}: initializer ${tensor.name} holds no data of ${length} floats`);
}
