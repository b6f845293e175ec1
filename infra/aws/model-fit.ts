// Whether the spec's model fits the GPU it is given: weights plus the KV cache of MAX_BATCH_SIZE sequences at
// full context plus the runtime, against the GPU memory of every instance type the group may launch.
import { GPT2_FAMILY, gpt2SizeOf, Gpt2Size, maxBatchAtFullContext, ModelDtype, modelFootprint, RUNTIME_OVERHEAD_BYTES } from '../../service/models/footprint';
import { DeploymentSpec } from '../spec';
import { gpuFor, spotInstanceTypes } from './gpu-sizing';
import { maxBatchSizeFor } from './service-container';

export interface ModelFit {
  readonly size: Gpt2Size;
  readonly dtype: ModelDtype;
  readonly instanceType: string;
  readonly gpuName: string;
  readonly availableBytes: number;
  readonly weightBytes: number;
  readonly kvCacheBytes: number;
  readonly neededBytes: number;
  readonly batch: number;
  /** The largest batch at full context that fits this GPU. */
  readonly maxBatch: number;
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;

/**
 * The fit on the smallest GPU the spec may run on (spot pools span GPU families), or undefined when the model's
 * family member is unknown (neither `model.size` nor a name in `model.id`).
 */
export function modelFitFor(spec: DeploymentSpec): ModelFit | undefined {
  const size = spec.model.size ?? gpt2SizeOf(spec.model.id);
  if (size === undefined) return undefined;
  const shape = GPT2_FAMILY[size];
  const footprint = modelFootprint(shape, spec.model.dtype);
  const batch = maxBatchSizeFor(spec);
  const kvCacheBytes = footprint.kvBytesPerSequence * batch;
  const instanceTypes = spec.compute.spot ? spotInstanceTypes(spec.compute.gpuType) : [spec.compute.gpuType];
  const fits = instanceTypes.map((instanceType) => {
    const gpu = gpuFor(instanceType);
    return {
      size,
      dtype: spec.model.dtype,
      instanceType,
      gpuName: gpu.name,
      availableBytes: gpu.usableBytes,
      weightBytes: footprint.weightBytes,
      kvCacheBytes,
      neededBytes: footprint.weightBytes + kvCacheBytes + RUNTIME_OVERHEAD_BYTES,
      batch,
      maxBatch: maxBatchAtFullContext(shape, spec.model.dtype, gpu.usableBytes),
    };
  });
  return fits.reduce((smallest, fit) => (fit.availableBytes < smallest.availableBytes ? fit : smallest));
}

/** The problem to report when `fit` does not fit, naming the numbers and what to change; undefined when it fits. */
export function modelFitProblem(fit: ModelFit): string | undefined {
  if (fit.neededBytes <= fit.availableBytes) return undefined;
  const remedies = [
    fit.maxBatch > 0 ? `lower scaling.targetConcurrency to ${fit.maxBatch} (MAX_BATCH_SIZE follows it)` : undefined,
    'choose a smaller model.dtype (fp16, q8, q4)',
    'or a compute.gpuType with more GPU memory (g5 or g6: 24 GB)',
  ].filter((remedy) => remedy !== undefined);
  return (
    `model: ${fit.size} (${fit.dtype}) needs ${gb(fit.neededBytes)} of GPU memory on ${fit.instanceType} but its ${fit.gpuName} ` +
    `has ${gb(fit.availableBytes)} usable: weights ${gb(fit.weightBytes)} + KV cache ${gb(fit.kvCacheBytes)} ` +
    `(${fit.batch} sequences at full context) + runtime ${gb(RUNTIME_OVERHEAD_BYTES)}; ${remedies.join(', ')}`
  );
}
