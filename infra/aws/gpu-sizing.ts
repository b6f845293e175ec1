// Which GPU instance types the inference stack runs on, how much of each one a task may reserve, and its GPU memory.
import { SpecError } from '../spec';

/** Single-GPU sizes: every task gets the instance's one GPU, so one task runs per instance. */
const SIZES: Readonly<Record<string, { readonly vcpus: number; readonly memoryGiB: number }>> = {
  xlarge: { vcpus: 4, memoryGiB: 16 },
  '2xlarge': { vcpus: 8, memoryGiB: 32 },
  '4xlarge': { vcpus: 16, memoryGiB: 64 },
  '8xlarge': { vcpus: 32, memoryGiB: 128 },
  '16xlarge': { vcpus: 64, memoryGiB: 256 },
};

/** NVIDIA T4 (g4dn), A10G (g5), L4 (g6): the same vCPU and memory at each size above. */
export const GPU_FAMILIES = ['g4dn', 'g5', 'g6'] as const;
type GpuFamily = (typeof GPU_FAMILIES)[number];

/** Each family's one GPU and its memory (AWS: T4 16 GiB, A10G 24 GiB, L4 24 GiB per GPU). */
export const GPUS: Readonly<Record<GpuFamily, { readonly name: string; readonly memoryGiB: number }>> = {
  g4dn: { name: 'NVIDIA T4', memoryGiB: 16 },
  g5: { name: 'NVIDIA A10G', memoryGiB: 24 },
  g6: { name: 'NVIDIA L4', memoryGiB: 24 },
};

/**
 * Share of the nominal GPU memory a model may plan on: the driver (ECC on these GPUs) and the CUDA context keep
 * the rest, and nvidia-smi reports a total below the nominal size.
 */
const USABLE_GPU_MEMORY_SHARE = 0.9;

export const SUPPORTED_GPU_TYPES: readonly string[] = GPU_FAMILIES.flatMap((family) =>
  Object.keys(SIZES).map((size) => `${family}.${size}`),
);

export interface TaskSize {
  /** CPU units (1024 per vCPU) reserved by the container. */
  readonly cpu: number;
  /** Hard memory limit of the container, MiB. */
  readonly memoryLimitMiB: number;
}

function parseGpuType(instanceType: string): { family: GpuFamily; size: string } {
  const [family, size] = instanceType.split('.');
  if (family === undefined || size === undefined || !SUPPORTED_GPU_TYPES.includes(instanceType)) {
    throw new SpecError(
      `compute.gpuType: ${instanceType} is not a supported single-GPU ECS instance type; use one of ${SUPPORTED_GPU_TYPES.join(', ')}`,
    );
  }
  return { family: family as GpuFamily, size };
}

/**
 * What a task may reserve on `instanceType`: the ECS agent, Docker and the kernel keep half a vCPU and
 * about a tenth of the memory (at least 2 GiB); asking for more leaves the task unplaceable.
 */
export function taskSizeFor(instanceType: string): TaskSize {
  const { size } = parseGpuType(instanceType);
  const { vcpus, memoryGiB } = SIZES[size]!;
  const totalMiB = memoryGiB * 1024;
  return {
    cpu: vcpus * 1024 - 512,
    memoryLimitMiB: Math.min(totalMiB - 2048, Math.floor((totalMiB * 0.9) / 256) * 256),
  };
}

/**
 * Spot pools for `instanceType`: the requested type first, then the same size in the other GPU families.
 * Same vCPU and memory, so the task fits each; more pools mean fewer interruptions and failed launches.
 */
export function spotInstanceTypes(instanceType: string): string[] {
  const { family, size } = parseGpuType(instanceType);
  return [instanceType, ...GPU_FAMILIES.filter((other) => other !== family).map((other) => `${other}.${size}`)];
}

/** The GPU of `instanceType` and the bytes of its memory a model may plan on. */
export function gpuFor(instanceType: string): { readonly name: string; readonly usableBytes: number } {
  const { name, memoryGiB } = GPUS[parseGpuType(instanceType).family];
  return { name, usableBytes: Math.floor(memoryGiB * 1024 ** 3 * USABLE_GPU_MEMORY_SHARE) };
}
