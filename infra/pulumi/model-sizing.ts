// The GPU sizing check: the spec's model, at MAX_BATCH_SIZE sequences of full context, must fit the memory of
// the GPU it is deployed on. A spec that cannot fit fails the preview with the numbers instead of every
// replica running out of memory under load.
import * as pulumi from '@pulumi/pulumi';
import { GPT2_FAMILY, gpt2SizeOf, type Gpt2Size, maxBatchAtFullContext, modelFootprint, RUNTIME_OVERHEAD_BYTES } from '../../service/models/footprint';
import { maxBatchSize, SpecError, type DeploymentSpec } from '../spec';

export interface GpuMemory {
  /** What the error message calls it: "NVIDIA T4 16 GB". */
  readonly name: string;
  readonly memoryBytes: number;
}

export type SizingResult =
  | { readonly kind: 'fits'; readonly size: Gpt2Size; readonly batch: number; readonly maxBatch: number; readonly requiredBytes: number }
  | { readonly kind: 'unknown-model'; readonly modelId: string };

const GB = 1e9;
const gb = (bytes: number) => `${(bytes / GB).toFixed(1)} GB`;

/** Whether the spec's model fits `gpu`; throws SpecError with the numbers when it does not. */
export function checkModelFitsGpu(spec: DeploymentSpec, gpu: GpuMemory): SizingResult {
  const size = spec.model.size ?? gpt2SizeOf(spec.model.id);
  if (size === undefined) return { kind: 'unknown-model', modelId: spec.model.id };
  const shape = GPT2_FAMILY[size];
  const footprint = modelFootprint(shape, spec.model.dtype);
  const batch = maxBatchSize(spec);
  const requiredBytes = footprint.weightBytes + batch * footprint.kvBytesPerSequence + RUNTIME_OVERHEAD_BYTES;
  const maxBatch = maxBatchAtFullContext(shape, spec.model.dtype, gpu.memoryBytes);
  if (maxBatch < batch) {
    throw new SpecError(
      `spec "${spec.name}": ${size} (${spec.model.dtype}) at MAX_BATCH_SIZE ${batch} x ${shape.nPositions} tokens needs ` +
        `${gb(requiredBytes)} (weights ${gb(footprint.weightBytes)} + KV cache ${gb(batch * footprint.kvBytesPerSequence)} + ` +
        `runtime ${gb(RUNTIME_OVERHEAD_BYTES)}), more than the ${gpu.name}'s ${gb(gpu.memoryBytes)}. ` +
        (maxBatch > 0
          ? `Lower scaling.targetConcurrency to ${maxBatch} or less, choose a smaller model.dtype, or a larger compute.gpuType.`
          : 'The weights alone do not fit: choose a smaller model.dtype or a larger compute.gpuType.'),
    );
  }
  return { kind: 'fits', size, batch, maxBatch, requiredBytes };
}

/** The check as the programs run it: a model the check cannot size is deployed with a warning, not refused. */
export function enforceModelFitsGpu(spec: DeploymentSpec, gpu: GpuMemory): SizingResult {
  const result = checkModelFitsGpu(spec, gpu);
  if (result.kind === 'unknown-model') {
    void pulumi.log.warn(
      `spec "${spec.name}": model.id ${result.modelId} names no GPT-2 family member, so its fit on the ${gpu.name} is not checked; ` +
        `set model.size (one of ${Object.keys(GPT2_FAMILY).join(', ')}) to check it`,
    );
  }
  return result;
}
