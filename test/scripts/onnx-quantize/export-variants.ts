// The tiny model's graph rewritten into the other layouts public GPT-2 exports use, computing the
// same function: Optimum's torch export (Conv1D as Reshape -> Gemm(x, W, b) -> Reshape, the LM head
// as a MatMul on its own transposed copy of wte) and a MatMul on a Transpose node of wte.
import { onnx } from 'onnx-proto';

const INT64 = onnx.TensorProto.DataType.INT64;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function int64(graph: onnx.IGraphProto, name: string, values: readonly number[]): string {
  graph.initializer?.push({ name, dataType: INT64, dims: [values.length], rawData: new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer) });
  return name;
}

export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** Every `Add(MatMul(x, W), b)` with initializers W and b becomes Optimum's Reshape -> Gemm -> Reshape. */
export function asOptimumGemm(model: onnx.ModelProto): onnx.ModelProto {
  const graph = model.graph as onnx.IGraphProto;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const nodes = graph.node ?? [];
  const out: onnx.INodeProto[] = [];
  const skip = new Set<onnx.INodeProto>();
  const leadStart = int64(graph, 'variant_zero', [0]);
  const leadEnd = int64(graph, 'variant_minus_one', [-1]);
  nodes.forEach((node, index) => {
    if (skip.has(node)) return;
    const weight = initializers.get(node.input?.[1] ?? '');
    const add = nodes.find((n) => n.opType === 'Add' && n.input?.[0] === node.output?.[0]);
    const bias = initializers.get(add?.input?.[1] ?? '');
    if (node.opType !== 'MatMul' || !weight || !add || !bias) {
      out.push(node);
      return;
    }
    const [k, n] = (weight.dims ?? []).map(Number) as [number, number];
    const x = node.input?.[0] as string;
    const tag = `variant_${index}`;
    out.push(
      { name: `${tag}_shape`, opType: 'Shape', input: [x], output: [`${tag}_shape`] },
      { name: `${tag}_lead`, opType: 'Slice', input: [`${tag}_shape`, leadStart, leadEnd], output: [`${tag}_lead`] },
      { name: `${tag}_out_shape`, opType: 'Concat', input: [`${tag}_lead`, int64(graph, `${tag}_n`, [n])], output: [`${tag}_out_shape`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
      { name: `${tag}_flat`, opType: 'Reshape', input: [x, int64(graph, `${tag}_k`, [-1, k])], output: [`${tag}_flat`] },
      { name: `/transformer/${tag}/Gemm`, opType: 'Gemm', input: [`${tag}_flat`, weight.name as string, bias.name as string], output: [`${tag}_gemm`] },
      { name: `${tag}_unflat`, opType: 'Reshape', input: [`${tag}_gemm`, `${tag}_out_shape`], output: add.output as string[] },
    );
    skip.add(add);
  });
  graph.node = out;
  return model;
}

/** The tied head `Gemm(h, wte, transB=1)` as a MatMul on a transposed copy (`copy`) or on a Transpose node (`node`). */
export function withUntiedHead(model: onnx.ModelProto, form: 'copy' | 'node'): onnx.ModelProto {
  const graph = model.graph as onnx.IGraphProto;
  const head = (graph.node ?? []).find((n) => n.opType === 'Gemm' && n.input?.[1] === 'transformer.wte.weight') as onnx.INodeProto;
  const wte = (graph.initializer ?? []).find((t) => t.name === head.input?.[1]) as onnx.ITensorProto;
  const [vocab, embd] = (wte.dims ?? []).map(Number) as [number, number];
  let weight: string;
  if (form === 'copy') {
    const values = new Float32Array(new Uint8Array(wte.rawData as Uint8Array).buffer);
    const transposed = new Float32Array(values.length);
    for (let v = 0; v < vocab; v++) for (let e = 0; e < embd; e++) transposed[e * vocab + v] = values[v * embd + e] as number;
    weight = 'onnx::MatMul_2890';
    graph.initializer?.push({ name: weight, dataType: FLOAT, dims: [embd, vocab], rawData: new Uint8Array(transposed.buffer) });
  } else {
    weight = 'wte_transposed';
    graph.node = (graph.node ?? []).flatMap((n) => (n === head ? [{ name: 'head_transpose', opType: 'Transpose', input: [wte.name as string], output: [weight] }, n] : [n]));
  }
  head.opType = 'MatMul';
  head.name = '/lm_head/MatMul';
  head.input = [head.input?.[0] as string, weight];
  head.attribute = [];
  return model;
}
