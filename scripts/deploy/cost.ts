// The hourly compute cost of a deployment for the dry run: one replica's GPU instance (AWS) or replica shape
// (Azure, GCP) at the list prices the README documents, with their date, times the spec's min..max replicas.
// Prices are not fetched: they are what was published on that date, and the line says so.
import { GPU_PROFILES, CONSUMPTION_PROFILE } from '../../infra/azure/workload-profiles';
import { GPU_SHAPES, PROXY_SHAPE } from '../../infra/gcp/accelerators';
import type { DeploymentSpec } from '../../infra/spec';

export interface ReplicaPrice {
  /** What one replica is billed as, e.g. `g4dn.xlarge on-demand` or `8 vCPU + 56 GiB`. */
  readonly what: string;
  /** undefined when no price is documented for it. */
  readonly dollarsPerHour: number | undefined;
  /** Whose list price, where and as of when. */
  readonly source: string;
  /** What the price leaves out (a meter without a documented price, the load balancer, ...). */
  readonly excludes: string;
}

export interface CostEstimate {
  readonly perReplica: ReplicaPrice;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** min and max replicas times the replica price; undefined without a price. */
  readonly dollarsPerHour: { readonly min: number; readonly max: number } | undefined;
  readonly line: string;
}

const AWS_SOURCE = 'AWS on-demand list price, Linux, us-east-1, as of 2026-11-29 (README "Deploy to AWS")';
/** EC2 instances the README prices; the other single-GPU types have no documented price here. */
const AWS_INSTANCE_DOLLARS_PER_HOUR: Readonly<Record<string, number>> = { 'g4dn.xlarge': 0.526 };
/** Fargate in us-east-1: per vCPU-hour and per GB-hour; the proxy task is 0.5 vCPU and 1 GB. */
const FARGATE = { vcpuHour: 0.04048, gbHour: 0.004445, vcpus: 0.5, gb: 1 };

const AZURE_SOURCE = 'Azure Container Apps Consumption list price, pay-as-you-go, as of 2025 (README "Deploy to Azure")';
const AZURE_PER_SECOND = { vcpu: 0.000024, gib: 0.000003 };

const GCP_SOURCE = 'Cloud Run list price, tier 1 regions, instance-based billing, as of mid-2025 (README "Deploy to GCP")';
const GCP_PER_SECOND = { vcpu: 0.000018, gib: 0.000002 };
/** GPU per second without zonal redundancy; with it the README gives about $0.00029/s for the L4. */
const GCP_GPU_PER_SECOND: Readonly<Record<string, { readonly standard: number; readonly zonalRedundant: number }>> = {
  'nvidia-l4': { standard: 0.0001867, zonalRedundant: 0.00029 },
};
/** The Managed Service for Prometheus sidecar beside each inference instance (infra/gcp/prometheus-sidecar.ts). */
const GCP_SIDECAR = { vcpus: 1, gib: 0.5 };

const SECONDS_PER_HOUR = 3600;

/** `56Gi` -> 56, `512Mi` -> 0.5 (GiB). */
function gibOf(memory: string): number {
  const match = /^(\d+(?:\.\d+)?)(Gi|Mi)$/.exec(memory);
  if (match === null) throw new Error(`unexpected memory size ${memory}`);
  return Number(match[1]) / (match[2] === 'Mi' ? 1024 : 1);
}

function awsPrice(spec: DeploymentSpec): ReplicaPrice {
  if (spec.variant === 'proxy') {
    return {
      what: `Fargate task, ${FARGATE.vcpus} vCPU + ${FARGATE.gb} GB`,
      dollarsPerHour: FARGATE.vcpus * FARGATE.vcpuHour + FARGATE.gb * FARGATE.gbHour,
      source: AWS_SOURCE,
      excludes: 'the load balancer, public IPv4 addresses, logs and alarms (about $0.05/h) and the upstream API usage',
    };
  }
  const instance = spec.compute.gpuType;
  return {
    what: `${instance} on-demand${spec.compute.spot ? ' (spot instances cost less, and may be interrupted)' : ''}`,
    dollarsPerHour: AWS_INSTANCE_DOLLARS_PER_HOUR[instance],
    source: AWS_INSTANCE_DOLLARS_PER_HOUR[instance] === undefined ? `no price documented for ${instance}: see the EC2 on-demand pricing page` : AWS_SOURCE,
    excludes: `the root volume, load balancer, public IPv4 addresses, logs and alarms (about $0.07/h)${spec.region === 'us-east-1' ? '' : `; ${spec.region} prices differ from us-east-1's`}`,
  };
}

function azurePrice(spec: DeploymentSpec): ReplicaPrice {
  const profile = spec.variant === 'proxy' ? CONSUMPTION_PROFILE : GPU_PROFILES[spec.compute.gpuType];
  if (profile === undefined) {
    return { what: spec.compute.gpuType, dollarsPerHour: undefined, source: `no price documented for ${spec.compute.gpuType}`, excludes: '' };
  }
  const gib = gibOf(profile.memory);
  const perSecond = profile.cpu * AZURE_PER_SECOND.vcpu + gib * AZURE_PER_SECOND.gib;
  return {
    what: `${profile.type}: ${profile.cpu} vCPU + ${gib} GiB`,
    dollarsPerHour: perSecond * SECONDS_PER_HOUR,
    source: AZURE_SOURCE,
    excludes:
      profile.gpu === undefined
        ? 'the registry, logs and Key Vault operations'
        : `the serverless GPU meter for the ${profile.gpu.name} (no verified price: see the Container Apps pricing page), the registry and logs`,
  };
}

function gcpPrice(spec: DeploymentSpec): ReplicaPrice {
  const shape = spec.variant === 'proxy' ? PROXY_SHAPE : GPU_SHAPES[spec.compute.gpuType];
  if (shape === undefined) {
    return { what: spec.compute.gpuType, dollarsPerHour: undefined, source: `no price documented for ${spec.compute.gpuType}`, excludes: '' };
  }
  const sidecar = spec.variant === 'inference' ? GCP_SIDECAR : { vcpus: 0, gib: 0 };
  const vcpus = Number(shape.cpu) + sidecar.vcpus;
  const gib = gibOf(shape.memory) + sidecar.gib;
  const gpuRates = shape.accelerator === undefined ? undefined : GCP_GPU_PER_SECOND[shape.accelerator];
  const gpuPerSecond = shape.accelerator === undefined ? 0 : spec.compute.gpuZonalRedundancy ? gpuRates?.zonalRedundant : gpuRates?.standard;
  const what = `${shape.accelerator === undefined ? '' : `1 x ${shape.accelerator}${spec.compute.gpuZonalRedundancy ? ' (zonal redundancy)' : ''} + `}${vcpus} vCPU + ${gib} GiB${spec.variant === 'inference' ? ' (sidecar included)' : ''}`;
  if (gpuPerSecond === undefined) {
    return { what, dollarsPerHour: undefined, source: `no GPU price documented for ${shape.accelerator}: see the Cloud Run pricing page`, excludes: '' };
  }
  return {
    what,
    dollarsPerHour: (gpuPerSecond + vcpus * GCP_PER_SECOND.vcpu + gib * GCP_PER_SECOND.gib) * SECONDS_PER_HOUR,
    source: GCP_SOURCE,
    excludes: 'Artifact Registry storage, Secret Manager and the Prometheus samples',
  };
}

const dollars = (value: number): string => `$${value.toFixed(2)}`;

/** The cost line of `spec` on its cloud; undefined for the local target. */
export function hourlyCost(spec: DeploymentSpec): CostEstimate | undefined {
  const price = spec.target === 'aws' ? awsPrice(spec) : spec.target === 'azure' ? azurePrice(spec) : spec.target === 'gcp' ? gcpPrice(spec) : undefined;
  if (price === undefined) return undefined;
  const { minReplicas, maxReplicas } = spec.scaling;
  const replicas = `${minReplicas}-${maxReplicas} x ${price.what}`;
  if (price.dollarsPerHour === undefined) {
    return { perReplica: price, minReplicas, maxReplicas, dollarsPerHour: undefined, line: `${replicas}: ${price.source}` };
  }
  const range = { min: minReplicas * price.dollarsPerHour, max: maxReplicas * price.dollarsPerHour };
  const line =
    `${replicas} at $${price.dollarsPerHour.toFixed(3)}/h each = ${dollars(range.min)}-${dollars(range.max)}/h ` +
    `(${price.source}; not included: ${price.excludes})`;
  return { perReplica: price, minReplicas, maxReplicas, dollarsPerHour: range, line };
}
