// Moves a model's initializers into an external data file, the ONNX external-data format
// (data_location EXTERNAL with location/offset/length entries) that onnx.save_model writes with
// save_as_external_data=True and that exports over protobuf's 2 GB limit use (model.onnx_data).
import { onnx } from 'onnx-proto';

/** Tensors smaller than this stay inside the graph, as onnx's size_threshold default. */
const SIZE_THRESHOLD = 1024;
/** Tensors of 1 MiB or more start at a page boundary, as onnx's align_offset does, so they can be memory-mapped. */
const ALIGN_THRESHOLD = 1024 * 1024;
const PAGE = 4096;

/**
 * Rewrites `model`'s large initializers to point into `location` (a file name beside the graph) and
 * returns the bytes of that file as the chunks to write in order (padding included).
 */
export function moveToExternalData(model: onnx.ModelProto, location: string): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of model.graph?.initializer ?? []) {
    const data = tensor.rawData;
    if (!data || data.byteLength < SIZE_THRESHOLD) continue;
    if (data.byteLength >= ALIGN_THRESHOLD && offset % PAGE !== 0) {
      const padding = PAGE - (offset % PAGE);
      chunks.push(new Uint8Array(padding));
      offset += padding;
    }
    chunks.push(data);
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(data.byteLength) },
    ];
    tensor.rawData = new Uint8Array(0);
    offset += data.byteLength;
  }
  return chunks;
}
