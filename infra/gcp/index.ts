// Maps a deployment spec onto GCP: foundation, the proxy's Secret Manager secrets, and the Cloud Run endpoint.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import { SpecError, type DeploymentSpec } from '../spec';
import { type ProxySecretConfig, resolveProxySecrets } from '../pulumi/proxy-secrets';
import { type DeployOptions, ENDPOINT_VISIBILITY_TAG, endpointVisibility, type StackOutputs } from '../pulumi/outputs';
import { plainEnvironment, qualifyImage, requireImage, STARTUP_BUDGET_SECONDS } from '../pulumi/workload';
import { toGcpLabels, validateGcpSpec } from './accelerators';
import { CloudRunEndpoint } from './cloud-run-endpoint';
import { GcpFoundation } from './foundation';
import { SecretManagerSecrets } from './secret-manager-secrets';

/** The project comes from the provider's config (`gcp:project`), like every other Pulumi GCP program. */
function requireProject(spec: DeploymentSpec): string {
  const project = gcp.config.project;
  if (project === undefined || project.length === 0) {
    throw new SpecError(`spec "${spec.name}" targets gcp but no project is set: run \`pulumi config set gcp:project MY_PROJECT\``);
  }
  return project;
}

export function deployGcp(spec: DeploymentSpec, secretConfig: ProxySecretConfig, options: DeployOptions = {}): StackOutputs {
  const shape = validateGcpSpec(spec);
  const project = requireProject(spec);
  const labels = toGcpLabels({ app: 'gpt2-openai-toolkit', variant: spec.variant, ...spec.tags });
  // Everything that can reject the spec runs before the first resource is declared.
  const image = options.registryOnly === true ? undefined : requireImage(spec);
  const secretSources = image !== undefined && spec.variant === 'proxy' ? resolveProxySecrets(spec, secretConfig) : undefined;

  const foundation = new GcpFoundation(spec.name, {
    name: spec.name,
    project,
    region: spec.region,
    labels,
    secretManager: secretSources !== undefined,
  });
  if (image === undefined) {
    return { registry: foundation.repositoryUrl, identity: foundation.serviceAccountEmail };
  }
  const dependsOn: pulumi.Resource[] = [...foundation.ready];
  let secretEnvironment: Record<string, pulumi.Output<string>> | undefined;
  if (secretSources !== undefined) {
    const secrets = new SecretManagerSecrets(spec.name, {
      name: spec.name,
      project,
      readerMember: foundation.serviceAccountMember,
      sources: secretSources,
      labels,
      dependsOn: foundation.ready,
    });
    secretEnvironment = secrets.secretIds;
    dependsOn.push(...secrets.ready);
  }

  const endpoint = new CloudRunEndpoint(spec.name, {
    name: spec.name,
    project,
    region: spec.region,
    image: qualifyImage(image, foundation.repositoryUrl),
    shape,
    serviceAccountEmail: foundation.serviceAccountEmail,
    environment: plainEnvironment(spec),
    secretEnvironment,
    minInstances: spec.scaling.minReplicas,
    maxInstances: spec.scaling.maxReplicas,
    concurrency: spec.scaling.targetConcurrency,
    publicInvoker: spec.endpoint.public,
    gpuZonalRedundancy: spec.compute.gpuZonalRedundancy,
    startupBudgetSeconds: STARTUP_BUDGET_SECONDS[spec.variant],
    labels: { ...labels, [ENDPOINT_VISIBILITY_TAG]: endpointVisibility(spec) },
    dependsOn,
  });

  return { url: endpoint.url, registry: foundation.repositoryUrl, identity: foundation.serviceAccountEmail };
}
