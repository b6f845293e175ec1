// Maps a deployment spec onto Azure: foundation, the proxy's Key Vault secrets, and the Container App endpoint.
import * as pulumi from '@pulumi/pulumi';
import type { DeploymentSpec } from '../spec';
import { type ProxySecretConfig, resolveProxySecrets } from '../pulumi/proxy-secrets';
import { type DeployOptions, ENDPOINT_VISIBILITY_TAG, endpointVisibility, type StackOutputs } from '../pulumi/outputs';
import { plainEnvironment, qualifyImage, requireImage, STARTUP_BUDGET_SECONDS } from '../pulumi/workload';
import { ContainerAppEndpoint } from './container-app-endpoint';
import { AzureFoundation } from './foundation';
import { KeyVaultSecrets } from './key-vault-secrets';
import { validateAzureSpec } from './workload-profiles';

export function deployAzure(spec: DeploymentSpec, secretConfig: ProxySecretConfig, options: DeployOptions = {}): StackOutputs {
  const profile = validateAzureSpec(spec);
  const tags = { app: 'gpt2-openai-toolkit', variant: spec.variant, ...spec.tags };
  // Everything that can reject the spec runs before the first resource is declared.
  const image = options.registryOnly === true ? undefined : requireImage(spec);
  const secretSources = image !== undefined && spec.variant === 'proxy' ? resolveProxySecrets(spec, secretConfig) : undefined;

  const foundation = new AzureFoundation(spec.name, { name: spec.name, location: spec.region, tags });
  if (image === undefined) {
    return { registry: foundation.registryLoginServer, identity: foundation.identityPrincipalId };
  }
  const dependsOn: pulumi.Resource[] = [...foundation.pullGrants];
  let secretEnvironment: Record<string, pulumi.Output<string>> | undefined;
  if (secretSources !== undefined) {
    const secrets = new KeyVaultSecrets(spec.name, {
      name: spec.name,
      location: spec.region,
      resourceGroupName: foundation.resourceGroupName,
      tenantId: foundation.tenantId,
      subscriptionId: foundation.subscriptionId,
      readerPrincipalId: foundation.identityPrincipalId,
      sources: secretSources,
      tags,
    });
    secretEnvironment = secrets.secretUris;
    dependsOn.push(...secrets.readGrants);
  }

  const endpoint = new ContainerAppEndpoint(spec.name, {
    name: spec.name,
    location: spec.region,
    resourceGroupName: foundation.resourceGroupName,
    workspaceCustomerId: foundation.workspaceCustomerId,
    workspaceSharedKey: foundation.workspaceSharedKey,
    profile,
    image: qualifyImage(image, foundation.registryLoginServer),
    registryLoginServer: foundation.registryLoginServer,
    identityId: foundation.identityId,
    environment: plainEnvironment(spec),
    secretEnvironment,
    minReplicas: spec.scaling.minReplicas,
    maxReplicas: spec.scaling.maxReplicas,
    targetConcurrency: spec.scaling.targetConcurrency,
    publicIngress: spec.endpoint.public,
    startupBudgetSeconds: STARTUP_BUDGET_SECONDS[spec.variant],
    drainSeconds: spec.drainSeconds,
    tags: { ...tags, [ENDPOINT_VISIBILITY_TAG]: endpointVisibility(spec) },
    dependsOn,
  });

  return {
    url: endpoint.url,
    registry: foundation.registryLoginServer,
    identity: foundation.identityPrincipalId,
  };
}
