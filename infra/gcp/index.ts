// Maps a deployment spec onto GCP: foundation, the service's Secret Manager secrets (inference keys; the
// proxy's keys, config, REDIS_URL and the Redis CA), Memorystore when the proxy shares state, the Cloud Run
// endpoint with the Prometheus sidecar for inference, and its dashboard and alert policies.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import { SpecError, type DeploymentSpec } from '../spec';
import { inferenceApiKeys } from '../pulumi/api-keys';
import { apiKeysReadCommand, type DeployOptions, ENDPOINT_VISIBILITY_TAG, endpointVisibility, type StackOutputs } from '../pulumi/outputs';
import { proxyConfigSecret, type ProxySecretConfig, resolveProxySecrets } from '../pulumi/proxy-secrets';
import { envSecret, fileSecret, SECRET_FILES, type ServiceSecret } from '../pulumi/service-secrets';
import { plainEnvironment, qualifyImage, requireImage, sharesProxyState, STARTUP_BUDGET_SECONDS } from '../pulumi/workload';
import { toGcpLabels, validateGcpSpec } from './accelerators';
import { CloudRunEndpoint, SERVER_CONTAINER } from './cloud-run-endpoint';
import { GcpFoundation } from './foundation';
import { Memorystore } from './memorystore';
import { CloudRunMonitoring } from './monitoring';
import { cloudRunLifecycle } from './platform';
import { PrometheusSidecar } from './prometheus-sidecar';
import { SECRET_MANAGER_MAX_SECRET_BYTES, SecretManagerSecrets } from './secret-manager-secrets';

/** The project comes from the provider's config (`gcp:project`), like every other Pulumi GCP program. */
function requireProject(spec: DeploymentSpec): string {
  const project = gcp.config.project;
  if (project === undefined || project.length === 0) {
    throw new SpecError(`spec "${spec.name}" targets gcp but no project is set: run \`pulumi config set gcp:project MY_PROJECT\``);
  }
  return project;
}

/** APIs the full stack uses beyond the foundation's: secrets and monitoring always, the network and Redis with shared state. */
function serviceApis(spec: DeploymentSpec): string[] {
  return ['secretmanager.googleapis.com', 'monitoring.googleapis.com', ...(sharesProxyState(spec) ? ['compute.googleapis.com', 'redis.googleapis.com'] : [])];
}

export function deployGcp(spec: DeploymentSpec, secretConfig: ProxySecretConfig, options: DeployOptions = {}): StackOutputs {
  // Everything that can reject the spec runs before the first resource is declared.
  const shape = validateGcpSpec(spec);
  const project = requireProject(spec);
  const lifecycle = cloudRunLifecycle(spec);
  const labels = toGcpLabels({ app: 'gpt2-openai-toolkit', variant: spec.variant, ...spec.tags });
  const image = options.registryOnly === true ? undefined : requireImage(spec);
  const proxySecrets: ServiceSecret[] = [];
  if (image !== undefined && spec.variant === 'proxy') {
    proxySecrets.push(...resolveProxySecrets(spec, secretConfig));
    const config = proxyConfigSecret(spec, options.projectRoot ?? process.cwd(), SECRET_MANAGER_MAX_SECRET_BYTES);
    if (config !== undefined) proxySecrets.push(config);
  }

  const foundation = new GcpFoundation(spec.name, {
    name: spec.name,
    project,
    region: spec.region,
    labels,
    extraApis: image === undefined ? [] : serviceApis(spec),
  });
  if (image === undefined) {
    return { registry: foundation.repositoryUrl, identity: foundation.serviceAccountEmail };
  }
  const dependsOn: pulumi.Resource[] = [...foundation.ready];
  const secrets = spec.variant === 'inference' ? [inferenceApiKeys(spec)] : proxySecrets;
  let redis: Memorystore | undefined;
  if (sharesProxyState(spec)) {
    redis = new Memorystore(spec.name, { name: spec.name, project, region: spec.region, labels, dependsOn: foundation.ready });
    secrets.push(
      envSecret('redis-url', { kind: 'value', value: redis.url }, 'REDIS_URL'),
      fileSecret('redis-ca', { kind: 'value', value: redis.caCertificates }, SECRET_FILES.redisCa),
    );
    dependsOn.push(...redis.ready);
  }
  const stored = new SecretManagerSecrets(spec.name, {
    name: spec.name,
    project,
    readerMember: foundation.serviceAccountMember,
    secrets,
    labels,
    dependsOn: foundation.ready,
  });
  dependsOn.push(...stored.ready);
  let sidecar: PrometheusSidecar | undefined;
  if (spec.variant === 'inference') {
    sidecar = new PrometheusSidecar(spec.name, {
      name: spec.name,
      project,
      readerMember: foundation.serviceAccountMember,
      scrapedContainer: SERVER_CONTAINER,
      labels,
      dependsOn: foundation.ready,
    });
    dependsOn.push(...sidecar.ready);
  }

  const endpoint = new CloudRunEndpoint(spec.name, {
    name: spec.name,
    project,
    region: spec.region,
    image: qualifyImage(image, foundation.repositoryUrl),
    shape,
    serviceAccountEmail: foundation.serviceAccountEmail,
    environment: plainEnvironment(spec, lifecycle),
    secrets: stored.stored,
    minInstances: spec.scaling.minReplicas,
    maxInstances: spec.scaling.maxReplicas,
    concurrency: spec.scaling.targetConcurrency,
    publicInvoker: spec.endpoint.public,
    gpuZonalRedundancy: spec.compute.gpuZonalRedundancy,
    startupBudgetSeconds: STARTUP_BUDGET_SECONDS[spec.variant],
    lifecycle,
    vpcEgress: redis === undefined ? undefined : { network: redis.networkName, subnetwork: redis.subnetworkName },
    sidecar,
    labels: { ...labels, [ENDPOINT_VISIBILITY_TAG]: endpointVisibility(spec) },
    dependsOn,
  });
  new CloudRunMonitoring(spec.name, { spec, project, dependsOn: foundation.ready });

  const outputs: StackOutputs = { url: endpoint.url, registry: foundation.repositoryUrl, identity: foundation.serviceAccountEmail };
  const apiKeys = stored.stored.find((entry) => entry.secret.name === 'api-keys');
  if (apiKeys === undefined) return outputs;
  // The full resource name of a secret this stack made, so the read command needs no project flag.
  const apiKeysSecret = stored.resourceNames.get('api-keys') ?? apiKeys.reference;
  return {
    ...outputs,
    apiKeysSecret,
    apiKeysReadCommand: apiKeysSecret.apply((reference) => apiKeysReadCommand('gcp', reference)),
    modelRevision: pulumi.output(spec.model.revision),
  };
}
