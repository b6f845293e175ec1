// A minimal ONNX model writer for the engine's own small graphs (the device cache operations): just
// the protobuf fields such graphs use, so the service needs no protobuf library at run time.

export type ElementType = 'float32' | 'float16' | 'int64';
export type AttributeValue = number | readonly number[];

const ELEMENT_TYPE: Record<ElementType, number> = { float32: 1, int64: 7, float16: 10 };
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;
const IR_VERSION = 8;

export interface GraphNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Record<string, AttributeValue>;
}

/** A graph input or output: its name, element type and rank (every dimension symbolic). */
export interface GraphValue {
  readonly name: string;
  readonly type: ElementType;
  readonly rank: number;
}

export interface GraphSpec {
  readonly name: string;
  readonly opset: number;
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
  readonly nodes: readonly GraphNode[];
  /** int64 constants, by name. */
  readonly constants?: Record<string, readonly number[]>;
}

/** The serialized ModelProto of `spec`, for `InferenceSession.create(bytes)`. */
export function writeOnnxModel(spec: GraphSpec): Uint8Array {
  const graph = new ProtoWriter();
  for (const node of spec.nodes) graph.message(1, nodeProto(node, spec.name));
  graph.string(2, spec.name);
  for (const [name, values] of Object.entries(spec.constants ?? {})) graph.message(5, int64Tensor(name, values));
  for (const value of spec.inputs) graph.message(11, valueInfo(value));
  for (const value of spec.outputs) graph.message(12, valueInfo(value));
  const opset = new ProtoWriter().string(1, '').varint(2, spec.opset);
  return new ProtoWriter().varint(1, IR_VERSION).string(2, 'gpt2-openai-toolkit').message(7, graph).message(8, opset).bytes();
}

function nodeProto(node: GraphNode, graphName: string): ProtoWriter {
  const proto = new ProtoWriter();
  for (const input of node.inputs) proto.string(1, input);
  for (const output of node.outputs) proto.string(2, output);
  proto.string(3, `${graphName}/${node.outputs[0] ?? node.op}`).string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    const attribute = new ProtoWriter().string(1, name);
    if (typeof value === 'number') attribute.varint(3, value).varint(20, ATTRIBUTE_INT);
    else {
      for (const item of value) attribute.varint(8, item);
      attribute.varint(20, ATTRIBUTE_INTS);
    }
    proto.message(5, attribute);
  }
  return proto;
}

function int64Tensor(name: string, values: readonly number[]): ProtoWriter {
  const raw = new BigInt64Array(values.map(BigInt));
  return new ProtoWriter().varint(1, values.length).varint(2, ELEMENT_TYPE.int64).string(8, name).raw(9, new Uint8Array(raw.buffer));
}

function valueInfo(value: GraphValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (let axis = 0; axis < value.rank; axis++) shape.message(1, new ProtoWriter().string(2, `${value.name}_${axis}`));
  const tensorType = new ProtoWriter().varint(1, ELEMENT_TYPE[value.type]).message(2, shape);
  return new ProtoWriter().string(1, value.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Protobuf wire format: varints (negative int64 as ten bytes of two's complement) and length-delimited fields. */
class ProtoWriter {
  private readonly chunks: number[] = [];

  varint(field: number, value: number): this {
    this.key(field, 0);
    this.pushVarint(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.raw(field, value.bytes());
  }

  raw(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.pushVarint(BigInt(value.length));
    for (const byte of value) this.chunks.push(byte);
    return this;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }

  private key(field: number, wireType: number): void {
    this.pushVarint(BigInt((field << 3) | wireType));
  }

  private pushVarint(value: bigint): void {
    let rest = value;
    while (rest >= 0x80n) {
      this.chunks.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.chunks.push(Number(rest));
  }
}
