// The policy pack's rules as plain lists (the pack entry, index.ts, wraps them in a PolicyPack).
// They check what the Azure and GCP programs declare: secrets by reference, a GPU and API keys under the
// inference variant, metrics off the public port, bounded replicas, Redis only with TLS, auth and no public
// network, and public ingress only where the spec asked for it.
import type {
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { GPU_PROFILE_NAMES } from '../azure/workload-profiles';
import { ENDPOINT_VISIBILITY_TAG } from '../pulumi/outputs';

export const CONTAINER_APP = 'azure-native:app:ContainerApp';
export const CLOUD_RUN_SERVICE = 'gcp:cloudrunv2/service:Service';
export const MANAGED_REDIS_CLUSTER = 'azure-native:redisenterprise:RedisEnterprise';
export const MANAGED_REDIS_DATABASE = 'azure-native:redisenterprise:Database';
export const AZURE_CACHE_FOR_REDIS = 'azure-native:redis:Redis';
export const MEMORYSTORE_REDIS = 'gcp:redis/instance:Instance';
const CLOUD_RUN_IAM_MEMBER = 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember';
const CLOUD_RUN_IAM_BINDING = 'gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding';
const CLOUD_RUN_IAM_POLICY = 'gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy';

/** Replica ceiling when the pack's config does not set one: a runaway GPU bill stops here. */
export const DEFAULT_MAX_REPLICAS = 20;

interface EnvVar {
  readonly name?: string;
  readonly value?: string;
}

/** Names that hold credentials (`OPENAI_API_KEY`, `PROXY_KEYS`, `DB_PASSWORD`); `*_FILE` paths are not secrets. */
const SECRET_NAME = /(^|_)(KEYS?|SECRETS?|TOKENS?|PASSWORDS?|CREDENTIALS?)$/i;
/** Values that are credentials whatever the variable is called (OpenAI keys, GitHub tokens, PEM blocks, URLs with a password). */
const SECRET_VALUE = /^(sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@)/;

function plaintextSecrets(envs: readonly EnvVar[] | undefined): string[] {
  return (envs ?? [])
    .filter((env) => typeof env.value === 'string' && env.value.length > 0)
    .filter((env) => SECRET_NAME.test(env.name ?? '') || SECRET_VALUE.test(env.value ?? ''))
    .map((env) => env.name ?? '(unnamed)');
}

/** The container's environment as name -> value (secret references have no value). */
function environmentOf(envs: readonly EnvVar[] | undefined): Record<string, string | undefined> {
  return Object.fromEntries((envs ?? []).map((env) => [env.name ?? '', env.value]));
}

/** The service's VARIANT; the service defaults to inference when it is unset. */
function variantOf(envs: readonly EnvVar[] | undefined): string {
  return environmentOf(envs).VARIANT ?? 'inference';
}

function containersOf(args: ResourceValidationArgs): any[] {
  if (args.type === CONTAINER_APP) return args.props.template?.containers ?? [];
  if (args.type === CLOUD_RUN_SERVICE) return args.props.template?.containers ?? [];
  return [];
}

function envsOf(container: any, type: string): EnvVar[] | undefined {
  return type === CONTAINER_APP ? container?.env : container?.envs;
}

export const noPlaintextSecretEnv: ResourceValidationPolicy = {
  name: 'no-plaintext-secret-env',
  description: 'Secrets reach containers by reference (Key Vault / Secret Manager), never as plaintext environment values.',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    for (const container of containersOf(args)) {
      const leaked = plaintextSecrets(envsOf(container, args.type));
      if (leaked.length > 0) {
        reportViolation(
          `container ${container.name ?? ''} sets ${leaked.join(', ')} as a plaintext value; ` +
            (args.type === CONTAINER_APP
              ? 'use a Key Vault secret (configuration.secrets with keyVaultUrl + identity) and env secretRef'
              : 'use a Secret Manager secret (env valueSource.secretKeyRef)'),
        );
      }
    }
    if (args.type === CONTAINER_APP) {
      const inline = ((args.props.configuration?.secrets ?? []) as { name?: string; value?: string }[]).filter(
        (secret) => secret.value !== undefined,
      );
      if (inline.length > 0) {
        reportViolation(
          `Container App secrets ${inline.map((s) => s.name).join(', ')} hold inline values; reference Key Vault (keyVaultUrl + identity) instead`,
        );
      }
    }
  },
};

export const inferenceHasGpu: ResourceValidationPolicy = {
  name: 'inference-has-gpu',
  description: 'The inference variant runs on a GPU (an Azure serverless GPU profile, or a Cloud Run accelerator with an nvidia.com/gpu limit).',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const containers = containersOf(args);
    if (!containers.some((container) => variantOf(envsOf(container, args.type)) === 'inference')) return;
    if (args.type === CONTAINER_APP) {
      const profile = args.props.workloadProfileName as string | undefined;
      if (profile === undefined || !GPU_PROFILE_NAMES.includes(profile)) {
        reportViolation(
          `inference Container App runs on workload profile "${profile ?? '(none)'}", which has no GPU; use one of ${GPU_PROFILE_NAMES.join(', ')}`,
        );
      }
      return;
    }
    const accelerator = args.props.template?.nodeSelector?.accelerator as string | undefined;
    const gpus = Number(containers[0]?.resources?.limits?.['nvidia.com/gpu'] ?? 0);
    if (accelerator === undefined || !(gpus >= 1)) {
      reportViolation(
        `inference Cloud Run service has ${accelerator === undefined ? 'no nodeSelector.accelerator' : `accelerator ${accelerator}`} and ` +
          `nvidia.com/gpu limit ${gpus}; set nodeSelector.accelerator (e.g. nvidia-l4) and limits["nvidia.com/gpu"] = "1"`,
      );
    }
  },
};

export const maxReplicasBounded: ResourceValidationPolicy = {
  name: 'max-replicas-bounded',
  description: `Autoscaling has an explicit ceiling (at most maxReplicas, default ${DEFAULT_MAX_REPLICAS}), so load cannot scale the bill without bound.`,
  enforcementLevel: 'mandatory',
  configSchema: { properties: { maxReplicas: { type: 'integer', minimum: 1, default: DEFAULT_MAX_REPLICAS } } },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    let declared: unknown;
    if (args.type === CONTAINER_APP) declared = args.props.template?.scale?.maxReplicas;
    else if (args.type === CLOUD_RUN_SERVICE) declared = args.props.template?.scaling?.maxInstanceCount;
    else return;
    const ceiling = args.getConfig<{ maxReplicas?: number }>().maxReplicas ?? DEFAULT_MAX_REPLICAS;
    if (typeof declared !== 'number') {
      reportViolation(`no maximum replica count is set (the platform default applies); set one no higher than ${ceiling}`);
    } else if (declared > ceiling) {
      reportViolation(`maximum replicas ${declared} exceeds the allowed ${ceiling}; lower scaling.maxReplicas in the spec or raise the policy's maxReplicas`);
    }
  },
};

/** The container that serves traffic: a Container App's first container; on Cloud Run the one with a port. */
function servingContainer(args: ResourceValidationArgs): any {
  const containers = containersOf(args);
  if (args.type === CLOUD_RUN_SERVICE) return containers.find((container) => container?.ports !== undefined) ?? containers[0];
  return containers[0];
}

/** Ports any ingress sends traffic to. */
function ingressPorts(args: ResourceValidationArgs): number[] {
  if (args.type === CONTAINER_APP) {
    const ingress = args.props.configuration?.ingress;
    if (ingress === undefined) return [];
    return [ingress.targetPort, ...((ingress.additionalPortMappings ?? []) as { targetPort?: number }[]).map((m) => m.targetPort)].filter(
      (port): port is number => typeof port === 'number',
    );
  }
  const port = servingContainer(args)?.ports?.containerPort;
  return typeof port === 'number' ? [port] : [];
}

export const metricsNotOnIngress: ResourceValidationPolicy = {
  name: 'metrics-not-on-ingress',
  description: 'The service serves /metrics on METRICS_PORT, a port no ingress routes to, so key names and traffic volumes stay private.',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== CONTAINER_APP && args.type !== CLOUD_RUN_SERVICE) return;
    const metricsPort = environmentOf(envsOf(servingContainer(args), args.type)).METRICS_PORT;
    if (metricsPort === undefined) {
      reportViolation('METRICS_PORT is not set, so /metrics is served on the API port that ingress exposes; set METRICS_PORT (e.g. 9464)');
      return;
    }
    if (ingressPorts(args).includes(Number(metricsPort))) {
      reportViolation(`ingress routes to METRICS_PORT ${metricsPort}; expose only the API port`);
    }
  },
};

export const inferenceRequiresApiKeys: ResourceValidationPolicy = {
  name: 'inference-requires-api-keys',
  description: 'The inference variant gets bearer keys (API_KEYS_FILE or API_KEYS from the secret store); without them it serves anyone.',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== CONTAINER_APP && args.type !== CLOUD_RUN_SERVICE) return;
    const envs = envsOf(servingContainer(args), args.type) ?? [];
    if (variantOf(envs) !== 'inference') return;
    if (!envs.some((env) => env.name === 'API_KEYS_FILE' || env.name === 'API_KEYS')) {
      reportViolation('the inference container has neither API_KEYS_FILE nor API_KEYS, so it accepts unauthenticated requests; mount the key secret');
    }
  },
};

export const redisPrivateWithTls: ResourceValidationPolicy = {
  name: 'redis-private-with-tls',
  description: 'A Redis the stacks create speaks TLS only, requires auth, and has no public network access.',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const props = args.props;
    if (args.type === MANAGED_REDIS_CLUSTER) {
      if (props.publicNetworkAccess !== 'Disabled') reportViolation(`Azure Managed Redis has publicNetworkAccess ${props.publicNetworkAccess ?? '(unset)'}; set Disabled and reach it through a private endpoint`);
      if (props.minimumTlsVersion !== undefined && props.minimumTlsVersion !== '1.2') reportViolation(`Azure Managed Redis accepts TLS ${props.minimumTlsVersion}; require 1.2`);
    } else if (args.type === MANAGED_REDIS_DATABASE) {
      // The service's default is TLS-encrypted.
      if (props.clientProtocol === 'Plaintext') reportViolation('the Azure Managed Redis database accepts plaintext clients; set clientProtocol Encrypted');
    } else if (args.type === AZURE_CACHE_FOR_REDIS) {
      if (props.enableNonSslPort === true) reportViolation('Azure Cache for Redis opens its non-TLS port 6379; set enableNonSslPort false');
      if (props.publicNetworkAccess !== 'Disabled') reportViolation('Azure Cache for Redis allows public network access; set publicNetworkAccess Disabled');
    } else if (args.type === MEMORYSTORE_REDIS) {
      if (props.transitEncryptionMode !== 'SERVER_AUTHENTICATION') {
        reportViolation(`Memorystore transitEncryptionMode is ${props.transitEncryptionMode ?? '(unset: DISABLED)'}; set SERVER_AUTHENTICATION`);
      }
      if (props.authEnabled !== true) reportViolation('Memorystore has AUTH disabled: anyone on the network could change limits and budgets; set authEnabled true');
    }
  },
};

function declaredPublic(tags: Record<string, string> | undefined): boolean {
  return tags?.[ENDPOINT_VISIBILITY_TAG] === 'public';
}

export const publicIngressOnlyWhenDeclared: ResourceValidationPolicy = {
  name: 'public-ingress-only-when-declared',
  description: `A Container App has external ingress only when its ${ENDPOINT_VISIBILITY_TAG} tag (from the spec's endpoint.public) says public.`,
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== CONTAINER_APP) return;
    if (args.props.configuration?.ingress?.external === true && !declaredPublic(args.props.tags)) {
      reportViolation(
        `external ingress on a Container App not declared public (tag ${ENDPOINT_VISIBILITY_TAG}=${args.props.tags?.[ENDPOINT_VISIBILITY_TAG] ?? '(unset)'}); ` +
          'set endpoint.public in the spec, or make ingress internal',
      );
    }
  },
};

const PUBLIC_MEMBERS = new Set(['allUsers', 'allAuthenticatedUsers']);

/** Cloud Run services that some IAM resource lets anyone invoke, by service name. */
function publiclyInvokable(resources: StackValidationArgs['resources']): Map<string, string> {
  const grants = new Map<string, string>();
  for (const resource of resources) {
    const props = resource.props;
    if (resource.type === CLOUD_RUN_IAM_MEMBER && props.role === 'roles/run.invoker' && PUBLIC_MEMBERS.has(props.member)) {
      grants.set(props.name, resource.name);
    }
    if (resource.type === CLOUD_RUN_IAM_BINDING && props.role === 'roles/run.invoker') {
      if ((props.members ?? []).some((member: string) => PUBLIC_MEMBERS.has(member))) grants.set(props.name, resource.name);
    }
    if (resource.type === CLOUD_RUN_IAM_POLICY && typeof props.policyData === 'string') {
      const bindings: { role?: string; members?: string[] }[] = JSON.parse(props.policyData).bindings ?? [];
      if (bindings.some((b) => b.role === 'roles/run.invoker' && (b.members ?? []).some((m) => PUBLIC_MEMBERS.has(m)))) {
        grants.set(props.name, resource.name);
      }
    }
  }
  return grants;
}

export const publicInvokerOnlyWhenDeclared: StackValidationPolicy = {
  name: 'public-invoker-only-when-declared',
  description:
    `A Cloud Run service lets anyone invoke it (invokerIamDisabled, or run.invoker for allUsers) only when its ${ENDPOINT_VISIBILITY_TAG} ` +
    "label (from the spec's endpoint.public) says public.",
  enforcementLevel: 'mandatory',
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const grants = publiclyInvokable(args.resources);
    for (const service of args.resources.filter((resource) => resource.type === CLOUD_RUN_SERVICE)) {
      if (declaredPublic(service.props.labels)) continue;
      if (service.props.invokerIamDisabled === true) {
        reportViolation(
          `Cloud Run service ${service.props.name} disables the invoker IAM check but is not declared public; ` +
            'set endpoint.public in the spec, or leave the check on',
          service.urn,
        );
      }
      const grant = grants.get(service.props.name);
      if (grant !== undefined) {
        reportViolation(
          `${grant} lets anyone invoke Cloud Run service ${service.props.name}, which is not declared public; ` +
            'set endpoint.public in the spec, or remove the allUsers binding',
          service.urn,
        );
      }
    }
  },
};

export const publicAccessWithoutAllUsers: StackValidationPolicy = {
  name: 'public-access-without-allusers',
  description:
    'A public Cloud Run service disables the invoker IAM check instead of granting run.invoker to allUsers, which the ' +
    '"Domain restricted sharing" organization policy refuses (Cloud Run, "Allowing public access").',
  enforcementLevel: 'advisory',
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    for (const [service, grant] of publiclyInvokable(args.resources)) {
      reportViolation(`${grant} makes ${service} public through allUsers; set invokerIamDisabled on the service instead`);
    }
  },
};

export const resourcePolicies: readonly ResourceValidationPolicy[] = [
  noPlaintextSecretEnv,
  inferenceHasGpu,
  inferenceRequiresApiKeys,
  metricsNotOnIngress,
  maxReplicasBounded,
  publicIngressOnlyWhenDeclared,
  redisPrivateWithTls,
];
export const stackPolicies: readonly StackValidationPolicy[] = [publicInvokerOnlyWhenDeclared, publicAccessWithoutAllUsers];
