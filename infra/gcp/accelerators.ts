// The Cloud Run GPUs this project runs on, their minimum CPU and memory, and the spec checks only GCP needs.
import { SpecError, type DeploymentSpec } from '../spec';
import { enforceModelFitsGpu, type GpuMemory } from '../pulumi/model-sizing';
import { rejectAwsOnlyFields } from '../pulumi/workload';

export interface InstanceShape {
  /** Cloud Run nodeSelector accelerator; undefined for a CPU-only instance. */
  readonly accelerator: string | undefined;
  readonly cpu: string;
  readonly memory: string;
  readonly gpu: GpuMemory | undefined;
}

/**
 * The smallest CPU and memory Cloud Run accepts next to each GPU (one GPU per instance), and the GPU's memory
 * as Cloud Run's GPU page states it, in decimal bytes (a little under what nvidia-smi reports).
 */
export const GPU_SHAPES: Readonly<Record<string, InstanceShape>> = {
  // NVIDIA L4, 24 GB: GPT-2 fits many times over; the default.
  'nvidia-l4': { accelerator: 'nvidia-l4', cpu: '4', memory: '16Gi', gpu: { name: 'NVIDIA L4 24 GB', memoryBytes: 24e9 } },
  // NVIDIA RTX PRO 6000 Blackwell, 96 GB: for larger GPT-2 family models; fewer regions.
  'nvidia-rtx-pro-6000': {
    accelerator: 'nvidia-rtx-pro-6000',
    cpu: '20',
    memory: '80Gi',
    gpu: { name: 'NVIDIA RTX PRO 6000 96 GB', memoryBytes: 96e9 },
  },
};

/** The proxy relays HTTP and holds no model: one vCPU is plenty. */
export const PROXY_SHAPE: InstanceShape = { accelerator: undefined, cpu: '1', memory: '512Mi', gpu: undefined };

export function instanceShapeFor(spec: DeploymentSpec): InstanceShape {
  if (spec.variant === 'proxy') return PROXY_SHAPE;
  const shape = GPU_SHAPES[spec.compute.gpuType];
  if (shape === undefined) {
    throw new SpecError(
      `spec "${spec.name}": compute.gpuType "${spec.compute.gpuType}" is not a Cloud Run GPU; use one of ${Object.keys(GPU_SHAPES).join(', ')}`,
    );
  }
  return shape;
}

/** Every GCP-specific check, before any resource is declared; the model must fit the instance's GPU. */
export function validateGcpSpec(spec: DeploymentSpec): InstanceShape {
  if (spec.target !== 'gcp') {
    throw new SpecError(`spec "${spec.name}" targets ${spec.target}, not gcp`);
  }
  rejectAwsOnlyFields(spec);
  if (spec.endpoint.domainName !== undefined) {
    throw new SpecError(
      `spec "${spec.name}": endpoint.domainName is not wired for GCP yet; map the domain with ` +
        '`gcloud beta run domain-mappings create` after deploying, and remove the field from the spec',
    );
  }
  const shape = instanceShapeFor(spec);
  if (shape.gpu !== undefined) enforceModelFitsGpu(spec, shape.gpu);
  return shape;
}

/** GCP labels allow lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function toGcpLabels(tags: Readonly<Record<string, string>>): Record<string, string> {
  const clean = (text: string) => text.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
  return Object.fromEntries(Object.entries(tags).map(([key, value]) => [clean(key), clean(value)]));
}
