// Maps a deployment spec onto Azure: foundation, the service's Key Vault secrets (inference keys; the proxy's
// keys, config and REDIS_URL), Azure Managed Redis when the proxy shares state, the Container App endpoint,
// and its dashboard and alerts.
import * as pulumi from '@pulumi/pulumi';
import type { DeploymentSpec } from '../spec';
import { inferenceApiKeys } from '../pulumi/api-keys';
import { apiKeysReadCommand, type DeployOptions, ENDPOINT_VISIBILITY_TAG, endpointVisibility, type StackOutputs } from '../pulumi/outputs';
import { proxyConfigSecret, type ProxySecretConfig, resolveProxySecrets } from '../pulumi/proxy-secrets';
import { envSecret, type ServiceSecret } from '../pulumi/service-secrets';
import { plainEnvironment, qualifyImage, requireImage, sharesProxyState, STARTUP_BUDGET_SECONDS } from '../pulumi/workload';
import { ContainerAppEndpoint } from './container-app-endpoint';
import { AzureFoundation } from './foundation';
import { KEY_VAULT_MAX_SECRET_BYTES, KeyVaultSecrets } from './key-vault-secrets';
import { ManagedRedis } from './managed-redis';
import { ContainerAppMonitoring } from './monitoring';
import { containerAppsLifecycle } from './platform';
import { validateAzureSpec } from './workload-profiles';

export function deployAzure(spec: DeploymentSpec, secretConfig: ProxySecretConfig, options: DeployOptions = {}): StackOutputs {
  // Everything that can reject the spec runs before the first resource is declared.
  const profile = validateAzureSpec(spec);
  const lifecycle = containerAppsLifecycle(spec);
  const tags = { app: 'gpt2-openai-toolkit', variant: spec.variant, ...spec.tags };
  const image = options.registryOnly === true ? undefined : requireImage(spec);
  const proxySecrets: ServiceSecret[] = [];
  if (image !== undefined && spec.variant === 'proxy') {
    proxySecrets.push(...resolveProxySecrets(spec, secretConfig));
    const config = proxyConfigSecret(spec, options.projectRoot ?? process.cwd(), KEY_VAULT_MAX_SECRET_BYTES);
    if (config !== undefined) proxySecrets.push(config);
  }

  const foundation = new AzureFoundation(spec.name, { name: spec.name, location: spec.region, tags });
  if (image === undefined) {
    return { registry: foundation.registryLoginServer, identity: foundation.identityPrincipalId };
  }
  const dependsOn: pulumi.Resource[] = [...foundation.pullGrants];
  const secrets = spec.variant === 'inference' ? [inferenceApiKeys(spec)] : proxySecrets;
  let redis: ManagedRedis | undefined;
  if (sharesProxyState(spec)) {
    redis = new ManagedRedis(spec.name, {
      name: spec.name,
      location: spec.region,
      resourceGroupName: foundation.resourceGroupName,
      subscriptionId: foundation.subscriptionId,
      tags,
    });
    secrets.push(envSecret('redis-url', { kind: 'value', value: redis.url }, 'REDIS_URL'));
    dependsOn.push(...redis.ready);
  }
  const vault = new KeyVaultSecrets(spec.name, {
    name: spec.name,
    location: spec.region,
    resourceGroupName: foundation.resourceGroupName,
    tenantId: foundation.tenantId,
    subscriptionId: foundation.subscriptionId,
    readerPrincipalId: foundation.identityPrincipalId,
    secrets,
    tags,
  });
  dependsOn.push(...vault.readGrants);

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
    environment: plainEnvironment(spec, lifecycle),
    secrets: vault.stored,
    infrastructureSubnetId: redis?.appsSubnetId,
    minReplicas: spec.scaling.minReplicas,
    maxReplicas: spec.scaling.maxReplicas,
    targetConcurrency: spec.scaling.targetConcurrency,
    publicIngress: spec.endpoint.public,
    startupBudgetSeconds: STARTUP_BUDGET_SECONDS[spec.variant],
    lifecycle,
    tags: { ...tags, [ENDPOINT_VISIBILITY_TAG]: endpointVisibility(spec) },
    dependsOn,
  });
  new ContainerAppMonitoring(spec.name, { spec, resourceGroupName: foundation.resourceGroupName, appId: endpoint.appId, tags });

  const outputs: StackOutputs = { url: endpoint.url, registry: foundation.registryLoginServer, identity: foundation.identityPrincipalId };
  const apiKeys = vault.stored.find((stored) => stored.secret.name === 'api-keys');
  if (apiKeys === undefined) return outputs;
  return {
    ...outputs,
    apiKeysSecret: apiKeys.reference,
    apiKeysReadCommand: apiKeys.reference.apply((reference) => apiKeysReadCommand('azure', reference)),
    modelRevision: pulumi.output(spec.model.revision),
  };
}
