// The Container Apps workload profiles this project runs on, and the spec checks that only Azure needs.
import { SpecError, type DeploymentSpec } from '../spec';
import { enforceModelFitsGpu, type GpuMemory } from '../pulumi/model-sizing';
import { rejectAwsOnlyFields } from '../pulumi/workload';

export interface WorkloadProfile {
  /** The profile's name inside the environment (what a Container App's workloadProfileName refers to). */
  readonly name: string;
  /** Azure's workload profile type. */
  readonly type: string;
  /** What one replica requests: the whole serverless GPU node, since a replica owns its GPU. */
  readonly cpu: number;
  readonly memory: string;
  readonly gpu: GpuMemory | undefined;
}

/**
 * Serverless GPU profiles (scale to zero, billed per second while a replica runs). GPU memory as NVIDIA rates
 * it (T4: 16 GB GDDR6; the profile's A100 is the 80 GB part of the NC A100 v4 series), in decimal bytes, a
 * little under what nvidia-smi reports, so the sizing check errs on the safe side.
 */
export const GPU_PROFILES: Readonly<Record<string, WorkloadProfile>> = {
  'Consumption-GPU-NC8as-T4': {
    name: 'NC8as-T4',
    type: 'Consumption-GPU-NC8as-T4',
    cpu: 8,
    memory: '56Gi',
    gpu: { name: 'NVIDIA T4 16 GB', memoryBytes: 16e9 },
  },
  'Consumption-GPU-NC24-A100': {
    name: 'NC24-A100',
    type: 'Consumption-GPU-NC24-A100',
    cpu: 24,
    memory: '220Gi',
    gpu: { name: 'NVIDIA A100 80 GB', memoryBytes: 80e9 },
  },
};

/** The default serverless CPU profile every workload-profiles environment has; the proxy runs here. */
export const CONSUMPTION_PROFILE: WorkloadProfile = { name: 'Consumption', type: 'Consumption', cpu: 0.5, memory: '1Gi', gpu: undefined };

/** Names of the GPU profiles, for checks that see only a Container App's workloadProfileName. */
export const GPU_PROFILE_NAMES: readonly string[] = Object.values(GPU_PROFILES).map((profile) => profile.name);

/** The profile a spec's replicas run on; throws SpecError for a GPU type Azure does not offer serverless. */
export function workloadProfileFor(spec: DeploymentSpec): WorkloadProfile {
  if (spec.variant === 'proxy') return CONSUMPTION_PROFILE;
  const profile = GPU_PROFILES[spec.compute.gpuType];
  if (profile === undefined) {
    throw new SpecError(
      `spec "${spec.name}": compute.gpuType "${spec.compute.gpuType}" is not an Azure Container Apps serverless GPU profile; ` +
        `use one of ${Object.keys(GPU_PROFILES).join(', ')}`,
    );
  }
  return profile;
}

/** Every Azure-specific check, before any resource is declared; the model must fit the profile's GPU. */
export function validateAzureSpec(spec: DeploymentSpec): WorkloadProfile {
  if (spec.target !== 'azure') {
    throw new SpecError(`spec "${spec.name}" targets ${spec.target}, not azure`);
  }
  rejectAwsOnlyFields(spec);
  if (spec.endpoint.domainName !== undefined) {
    throw new SpecError(
      `spec "${spec.name}": endpoint.domainName is not wired for Azure yet; bind the domain to the Container App with ` +
        '`az containerapp hostname add` after deploying, and remove the field from the spec',
    );
  }
  const profile = workloadProfileFor(spec);
  if (profile.gpu !== undefined) enforceModelFitsGpu(spec, profile.gpu);
  return profile;
}
