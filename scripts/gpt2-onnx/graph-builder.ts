// A small helper over onnx-proto for writing ONNX graphs node by node: unique names, typed
// initializers and attributes, graph inputs and outputs with symbolic dimensions. Float weights
// and constants are stored in the builder's float type (float32, or float16 for fp16 graphs).
import { onnx } from 'onnx-proto';
import { narrowToFloat16 } from './float16';

export type Dim = number | string;
export type AttributeValue = number | readonly number[] | string;
export type FloatType = 'float32' | 'float16';
type ElementType = FloatType | 'int64' | 'bool';

export const DATA_TYPE: Record<ElementType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** The most negative finite value of each float type: what masked attention scores are set to. */
export const LOWEST: Record<FloatType, number> = { float32: -3.4028234663852886e38, float16: -65504 };

/** Attributes whose ONNX type is float; every other number is an int (ONNX tells them apart). */
const FLOAT_ATTRIBUTES = new Set(['epsilon', 'alpha', 'beta']);

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** @param floatType the type weights and float constants are stored in. */
  constructor(readonly floatType: FloatType = 'float32') {}

  input(name: string, type: ElementType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElementType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A weight in the builder's float type, stored as raw little-endian bytes (the compact form onnxruntime reads fastest). */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    this.initializers.push({ name, dims: [...dims], dataType: DATA_TYPE[this.floatType], rawData: this.floatBytes(data) });
    return name;
  }

  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh('const_i64');
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [...dims], dataType: DATA_TYPE.int64, rawData: new Uint8Array(raw.buffer) });
    return name;
  }

  /** A scalar in the builder's float type. */
  float(value: number): string {
    const name = this.fresh('const_float');
    this.initializers.push({ name, dims: [], dataType: DATA_TYPE[this.floatType], rawData: this.floatBytes(new Float32Array([value])) });
    return name;
  }

  /** Adds a node and returns its output names (`outputs` of them, or the given names). */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputs: number | readonly string[] = 1): string[] {
    const outputNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : [...outputs];
    this.nodes.push({
      name: this.fresh(`${opType}_node`),
      opType,
      input: [...inputs],
      output: outputNames,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outputNames;
  }

  /** Single-output shorthand for `node`. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputName?: string): string {
    const [out] = this.node(opType, inputs, attributes, outputName === undefined ? 1 : [outputName]);
    return out as string;
  }

  toModel(graphName: string, opset: number, producerName: string): onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  private floatBytes(data: Float32Array): Uint8Array {
    const typed = this.floatType === 'float16' ? narrowToFloat16(data) : data;
    return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  }

  private fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }
}

function valueInfo(name: string, type: ElementType, dims: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return FLOAT_ATTRIBUTES.has(name) ? { name, type: types.FLOAT, f: value } : { name, type: types.INT, i: value };
  }
  return { name, type: types.INTS, ints: [...value] };
}
