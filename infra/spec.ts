// The one deployment spec every target reads (AWS CDK, Azure and GCP Pulumi, local compose).
// Parsed with zod; every default lives here, once; errors name the field that is wrong.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GPT2_SIZES, MODEL_DTYPES } from '../service/models/footprint';

export const TARGETS = ['local', 'aws', 'azure', 'gcp'] as const;
export type Target = (typeof TARGETS)[number];

export const VARIANTS = ['inference', 'proxy'] as const;
export type Variant = (typeof VARIANTS)[number];

/** Per-target defaults: the GPU each cloud offers for the inference variant, and a region that has it. */
export const TARGET_DEFAULTS: Readonly<Record<Target, { gpuType: string; region: string }>> = {
  local: { gpuType: 'none', region: 'local' },
  // 1x NVIDIA T4 (16 GB), 4 vCPU, 16 GiB: the cheapest ECS GPU instance that fits GPT-2 many times over.
  aws: { gpuType: 'g4dn.xlarge', region: 'us-east-1' },
  // Serverless T4 workload profile of Azure Container Apps.
  azure: { gpuType: 'Consumption-GPU-NC8as-T4', region: 'swedencentral' },
  // Cloud Run GPU: one L4 per instance. europe-west4 offers L4 to every project (us-central1 is by invitation).
  gcp: { gpuType: 'nvidia-l4', region: 'europe-west4' },
};

const dnsLabel = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/, 'must be 3-24 characters: lowercase letters, digits and hyphens, starting with a letter');

export const deploymentSpecSchema = z
  .object({
    /** Prefix of every resource name. */
    name: dnsLabel,
    target: z.enum(TARGETS),
    variant: z.enum(VARIANTS).default('inference'),
    region: z.string().min(1).optional(),
    model: z
      .object({
        /** Hugging Face repository of a GPT-2 family ONNX export, fetched into the image or at start. */
        id: z.string().min(1).default('onnx-community/gpt2-ONNX'),
        revision: z.string().min(1).default('main'),
        /** Name clients send as `model`. */
        servedName: z.string().min(1).default('gpt2'),
        /** Which graph of the repository to serve (MODEL_DTYPE), as transformers.js names them. */
        dtype: z.enum(MODEL_DTYPES).default('fp32'),
        /** A graph path inside the repository for other layouts (MODEL_FILE); overrides `dtype`'s choice. */
        file: z.string().min(1).optional(),
        /** The GPT-2 family member, for the GPU sizing check; inferred from `id` when it names one. */
        size: z.enum(GPT2_SIZES).optional(),
      })
      .prefault({}),
    compute: z
      .object({
        /** AWS instance type, Azure workload profile type, or GCP accelerator; per-target default. */
        gpuType: z.string().min(1).optional(),
        /** Capacity: spot/preemptible instances where the target supports them (AWS). */
        spot: z.boolean().default(false),
        /** With spot: instances always kept on-demand. */
        onDemandBase: z.number().int().min(0).default(1),
        /** GCP Cloud Run: reserve GPU capacity in other zones for zonal failover (billed extra); off by default. */
        gpuZonalRedundancy: z.boolean().default(false),
      })
      .prefault({}),
    scaling: z
      .object({
        /** 0 allows scale to zero where the target supports it (Azure, GCP). */
        minReplicas: z.number().int().min(0).default(1),
        maxReplicas: z.number().int().min(1).max(100).default(4),
        /** In-flight requests one replica serves before the autoscaler adds another. */
        targetConcurrency: z.number().int().min(1).max(1000).default(8),
        /** Requests per replica per minute for request-count scaling (AWS ALB). */
        requestsPerReplicaPerMinute: z.number().int().min(1).default(600),
      })
      .prefault({})
      .refine((s) => s.maxReplicas >= s.minReplicas, {
        message: 'maxReplicas must be >= minReplicas',
        path: ['maxReplicas'],
      }),
    endpoint: z
      .object({
        /** false (the default): reachable only inside the network (AWS internal ALB) or by authorized callers (GCP IAM). */
        public: z.boolean().default(false),
        domainName: z.string().min(1).optional(),
        /** AWS: the Route 53 hosted zone of `domainName`; with it the stack creates a DNS-validated certificate and the record. */
        hostedZoneId: z.string().min(1).optional(),
        /** AWS ACM certificate ARN for HTTPS on the load balancer. */
        certificateArn: z.string().startsWith('arn:', 'must be an ACM certificate ARN').optional(),
        /** AWS: a public endpoint without a certificate serves plain HTTP only when this says so. */
        allowHttp: z.boolean().default(false),
        /** The built-in playground page at GET / (PLAYGROUND); reachable exactly where the endpoint is. */
        playground: z.boolean().default(true),
      })
      .prefault({}),
    auth: z
      .object({
        /** Existing secret holding the inference API keys (ARN / Key Vault secret URI / Secret Manager id); else the stack creates one holding a generated key. */
        apiKeysSecret: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Where alarms go (email subscription to the alarm topic). */
    alarmEmail: z.email().optional(),
    /** A prebuilt image to deploy; when absent the stack builds the repository's Dockerfile. */
    image: z.string().min(1).optional(),
    proxy: z
      .object({
        upstreamBaseUrl: z.url().default('https://api.openai.com/v1'),
        /** Existing secret holding the OpenAI key (ARN / Key Vault secret URI / Secret Manager id); else one is created empty. */
        openaiKeySecret: z.string().min(1).optional(),
        /** Existing secret holding PROXY_KEYS (`name:sha256,...`); else one is created holding a placeholder no key matches. */
        clientKeysSecret: z.string().min(1).optional(),
        /** PROXY_CONFIG_FILE for the deployed proxy: a local JSON file delivered as a secret, or an existing secret holding it. */
        config: z.union([z.object({ file: z.string().min(1) }).strict(), z.object({ secret: z.string().min(1) }).strict()]).optional(),
        /** Limits and budgets shared by every replica in a managed Redis/Valkey (REDIS_URL); default `managed` when maxReplicas > 1. */
        sharedState: z.enum(['managed', 'none']).optional(),
      })
      .prefault({}),
    network: z
      .object({
        /** AWS NAT gateways (about $0.045/h each): 0 puts instances and tasks in public subnets behind locked-down security groups; 1 is cheap, 2 survives an AZ outage. */
        natGateways: z.number().int().min(0).max(2).default(0),
      })
      .prefault({}),
    /** The longest request (a whole stream) the service must let finish on deploys, scale-in and spot interruptions. */
    maxRequestSeconds: z.number().int().min(1).max(3600).default(300),
    /** Seconds a replica drains in-flight requests after SIGTERM before it exits. */
    drainSeconds: z.number().int().min(1).max(600).default(30),
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type DeploymentSpecInput = z.input<typeof deploymentSpecSchema>;

/** A validated spec with every default filled in, including the per-target ones. */
type ParsedSpec = z.output<typeof deploymentSpecSchema>;
export type DeploymentSpec = Omit<ParsedSpec, 'region' | 'compute' | 'proxy'> & {
  readonly region: string;
  readonly compute: ParsedSpec['compute'] & { readonly gpuType: string };
  readonly proxy: ParsedSpec['proxy'] & { readonly sharedState: 'managed' | 'none' };
};

export class SpecError extends Error {
  override readonly name = 'SpecError';
}

/** Validates `input`; throws SpecError whose message lists every wrong field by its path. */
export function parseDeploymentSpec(input: unknown, source = 'spec'): DeploymentSpec {
  const result = deploymentSpecSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      return `  ${path}: ${issue.message}`;
    });
    throw new SpecError(`${source} is not a valid deployment spec:\n${problems.join('\n')}`);
  }
  const spec = result.data;
  const defaults = TARGET_DEFAULTS[spec.target];
  return {
    ...spec,
    region: spec.region ?? defaults.region,
    compute: { ...spec.compute, gpuType: spec.compute.gpuType ?? defaults.gpuType },
    // One replica needs no shared state; several must share limits and budgets or each enforces its own.
    proxy: { ...spec.proxy, sharedState: spec.proxy.sharedState ?? (spec.scaling.maxReplicas > 1 ? 'managed' : 'none') },
  };
}

/** Reads and validates a JSON spec file. */
export function loadDeploymentSpec(path: string): DeploymentSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SpecError(`cannot read spec file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SpecError(`spec file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseDeploymentSpec(json, path);
}

/**
 * Sequences one replica runs at once (MAX_BATCH_SIZE): the autoscaler's per-replica target, so a replica batches
 * what it is sent instead of queueing it. The one rule every target uses.
 */
export function maxBatchSize(spec: DeploymentSpec): number {
  return spec.scaling.targetConcurrency;
}
