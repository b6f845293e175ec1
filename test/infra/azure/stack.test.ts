import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parseDeploymentSpec, SpecError, type DeploymentSpecInput } from '../../../infra/spec';
import { deployAzure } from '../../../infra/azure';
import type { StackOutputs } from '../../../infra/pulumi/outputs';
import {
  type CapturedResource,
  generatedPassword,
  installMocks,
  MANAGED_REDIS_KEY,
  ofType,
  onlyOfType,
  revealed,
  settle,
  SUBSCRIPTION_ID,
  valueOf,
} from '../pulumi/mocks';

// deployAzure declares resources only when called, so importing it before the mocks are set is safe.
const captured: CapturedResource[] = installMocks({});

const root = path.join(__dirname, '..', '..', '..');
const OPENAI_KEY = 'sk-test-PLAINTEXT-SENTINEL-0123456789';
const IMAGE = 'gpt2acr.azurecr.io/gpt2-openai-toolkit:gpu-1';
const PROXY_IMAGE = 'gpt2acr.azurecr.io/gpt2-openai-toolkit:cpu-1';
const ACR_PULL = '7f951dda-4ed3-4680-a7ca-43fe172d538d';
const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';

function spec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return parseDeploymentSpec({ target: 'azure', image: IMAGE, endpoint: { public: true }, ...input });
}

function proxySpec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return spec({ variant: 'proxy', image: PROXY_IMAGE, ...input });
}

/** Resources the stack named `prefix` registered. */
function of(prefix: string): CapturedResource[] {
  return captured.filter((resource) => resource.name === prefix || resource.name.startsWith(`${prefix}-`));
}

function app(prefix: string): Record<string, any> {
  return onlyOfType(of(prefix), 'azure-native:app:ContainerApp').inputs;
}

function env(prefix: string): Record<string, any> {
  return onlyOfType(of(prefix), 'azure-native:app:ManagedEnvironment').inputs;
}

/** The server container's plain variables (secret references have no value). */
function vars(prefix: string): Record<string, string | undefined> {
  return Object.fromEntries(app(prefix).template.containers[0].env.map((e: any) => [e.name, e.value]));
}

function vaultSecret(prefix: string, secretName: string): Record<string, any> {
  const found = ofType(of(prefix), 'azure-native:keyvault:Secret').filter((secret) => secret.inputs.secretName === secretName);
  if (found.length !== 1) throw new Error(`expected one Key Vault secret ${secretName} in ${prefix}, found ${found.length}`);
  return found[0]!.inputs;
}

const warnings: string[] = [];
let inference: StackOutputs;
let proxy: StackOutputs;
let byoKeys: StackOutputs;

beforeAll(async () => {
  jest.spyOn(pulumi.log, 'warn').mockImplementation(async (message: string) => {
    warnings.push(message);
  });
  inference = deployAzure(
    spec({ name: 'az-inf', scaling: { minReplicas: 0, maxReplicas: 3, targetConcurrency: 4 }, model: { revision: 'abc123', dtype: 'fp16', file: 'onnx/decoder.onnx' } }),
    {},
  );
  proxy = deployAzure(proxySpec({ name: 'az-proxy', endpoint: { public: false }, scaling: { maxReplicas: 4 } }), {
    openaiApiKey: pulumi.secret(OPENAI_KEY),
  });
  deployAzure(proxySpec({ name: 'az-solo', scaling: { minReplicas: 1, maxReplicas: 1 } }), { openaiApiKey: pulumi.secret(OPENAI_KEY) });
  deployAzure(
    proxySpec({ name: 'az-cfg', scaling: { maxReplicas: 1 }, proxy: { config: { file: 'deploy/proxy.example.json' } } }),
    { openaiApiKey: pulumi.secret(OPENAI_KEY) },
    { projectRoot: root },
  );
  deployAzure(
    proxySpec({ name: 'az-cfgref', scaling: { maxReplicas: 1 }, proxy: { config: { secret: 'https://corp-kv.vault.azure.net/secrets/proxy-config' } } }),
    { openaiApiKey: pulumi.secret(OPENAI_KEY) },
  );
  deployAzure(spec({ name: 'az-a100', compute: { gpuType: 'Consumption-GPU-NC24-A100' } }), {});
  deployAzure(spec({ name: 'az-long', maxRequestSeconds: 900, endpoint: { public: false, playground: false } }), {});
  byoKeys = deployAzure(spec({ name: 'az-keys', auth: { apiKeysSecret: 'https://corp-kv.vault.azure.net/secrets/gpt2-keys' } }), {});
  deployAzure(proxySpec({ name: 'az-byo', scaling: { maxReplicas: 1 }, proxy: { openaiKeySecret: 'https://corp-kv.vault.azure.net/secrets/openai' } }), {});
  deployAzure(spec({ name: 'az-alarm', alarmEmail: 'oncall@example.com' }), {});
  await settle();
});

afterAll(() => jest.restoreAllMocks());

describe('Azure inference endpoint', () => {
  it('runs on the serverless T4 profile that the environment declares beside Consumption', () => {
    expect(env('az-inf').workloadProfiles).toEqual([
      { name: 'Consumption', workloadProfileType: 'Consumption' },
      { name: 'NC8as-T4', workloadProfileType: 'Consumption-GPU-NC8as-T4' },
    ]);
    expect(app('az-inf').workloadProfileName).toBe('NC8as-T4');
    expect(app('az-inf').template.containers[0].resources).toEqual({ cpu: 8, memory: '56Gi' });
  });

  it('selects the A100 profile when compute.gpuType asks for it', () => {
    expect(env('az-a100').workloadProfiles).toContainEqual({ name: 'NC24-A100', workloadProfileType: 'Consumption-GPU-NC24-A100' });
    expect(app('az-a100').workloadProfileName).toBe('NC24-A100');
    expect(app('az-a100').template.containers[0].resources).toEqual({ cpu: 24, memory: '220Gi' });
  });

  it('scales on concurrent requests per replica, the same number it batches', () => {
    expect(app('az-inf').template.scale).toEqual({
      minReplicas: 0,
      maxReplicas: 3,
      rules: [{ name: 'http-concurrency', http: { metadata: { concurrentRequests: '4' } } }],
    });
    expect(vars('az-inf').MAX_BATCH_SIZE).toBe('4');
  });

  it('exposes external HTTPS ingress on the API port only and tags it public when the spec says so', () => {
    const inputs = app('az-inf');
    expect(inputs.configuration.ingress).toEqual({ external: true, targetPort: 8080, transport: 'auto', allowInsecure: false });
    expect(inputs.configuration.ingress.additionalPortMappings).toBeUndefined();
    expect(inputs.tags['endpoint-visibility']).toBe('public');
  });

  it('serves /metrics on METRICS_PORT 9464, which no ingress port maps to', () => {
    expect(vars('az-inf')).toMatchObject({ PORT: '8080', METRICS_PORT: '9464' });
    expect(app('az-inf').configuration.ingress.targetPort).not.toBe(9464);
  });

  it('makes ingress internal and tags it private when endpoint.public is false', () => {
    expect(app('az-long').configuration.ingress.external).toBe(false);
    expect(app('az-long').tags['endpoint-visibility']).toBe('private');
  });

  it('gives model loading a startup window of at least five minutes within Azure probe limits', () => {
    const probes: any[] = app('az-inf').template.containers[0].probes;
    const startup = probes.find((probe) => probe.type === 'Startup');
    expect(startup.httpGet).toEqual({ path: '/ready', port: 8080 });
    expect(startup.initialDelaySeconds + startup.periodSeconds * startup.failureThreshold).toBeGreaterThanOrEqual(300);
    expect(startup.failureThreshold).toBeLessThanOrEqual(10);
    expect(startup.initialDelaySeconds).toBeLessThanOrEqual(60);
    expect(startup.periodSeconds).toBeLessThanOrEqual(240);
    expect(probes.find((probe) => probe.type === 'Readiness').httpGet.path).toBe('/ready');
    expect(probes.find((probe) => probe.type === 'Liveness').httpGet.path).toBe('/health');
  });

  it('passes the pinned model, its graph, the CUDA provider and the playground switch', () => {
    expect(vars('az-inf')).toMatchObject({
      VARIANT: 'inference',
      EXECUTION_PROVIDER: 'cuda',
      HOST: '0.0.0.0',
      SERVED_MODEL_NAME: 'gpt2',
      MODEL_REVISION: 'abc123',
      MODEL_DTYPE: 'fp16',
      MODEL_FILE: 'onnx/decoder.onnx',
      PLAYGROUND: 'true',
    });
    expect(vars('az-long').PLAYGROUND).toBe('false');
    expect(vars('az-long')).not.toHaveProperty('MODEL_FILE');
    // A full reference (with a registry host) runs as given.
    expect(app('az-inf').template.containers[0].image).toBe(IMAGE);
  });

  it('drains for maxRequestSeconds after SIGTERM inside a grace period two seconds longer', () => {
    expect(app('az-inf').template.terminationGracePeriodSeconds).toBe(302);
    expect(vars('az-inf').DRAIN_TIMEOUT_SECONDS).toBe('300');
  });

  it('caps the grace at the 600 s Container Apps allows and warns which requests it cuts', () => {
    expect(app('az-long').template.terminationGracePeriodSeconds).toBe(600);
    expect(vars('az-long').DRAIN_TIMEOUT_SECONDS).toBe('598');
    expect(warnings).toContainEqual(expect.stringMatching(/az-long.*at most 600 s.*longer than 598 s \(maxRequestSeconds is 900\)/));
  });

  it('keeps idle connections 5 s longer than the ingress idle timeout of 240 s', () => {
    expect(vars('az-inf').KEEP_ALIVE_TIMEOUT_SECONDS).toBe('245');
  });

  it('pulls from the stack registry with the user-assigned identity that holds AcrPull on it', () => {
    const stack = of('az-inf');
    const registry = onlyOfType(stack, 'azure-native:containerregistry:Registry');
    const identity = onlyOfType(stack, 'azure-native:managedidentity:UserAssignedIdentity');
    const inputs = app('az-inf');
    expect(registry.inputs.adminUserEnabled).toBe(false);
    expect(inputs.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: [`${identity.name}-id`] });
    expect(inputs.configuration.registries).toEqual([{ server: `${registry.inputs.registryName}.azurecr.io`, identity: `${identity.name}-id` }]);
    const grants = ofType(stack, 'azure-native:authorization:RoleAssignment').filter((grant) => grant.inputs.roleDefinitionId.endsWith(ACR_PULL));
    expect(grants.map((grant) => grant.inputs)).toEqual([
      expect.objectContaining({ scope: `${registry.name}-id`, principalId: `${identity.name}-principal`, principalType: 'ServicePrincipal' }),
    ]);
    expect(grants[0]!.inputs.roleDefinitionId).toBe(`/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${ACR_PULL}`);
  });

  it('outputs the https URL of the app, the registry CI pushes to and the model revision', async () => {
    expect(await valueOf(inference.url)).toBe('https://az-inf.example.azurecontainerapps.io');
    expect(await valueOf(inference.registry)).toMatch(/^azinf[0-9a-f]{8}\.azurecr\.io$/);
    expect(await valueOf(inference.modelRevision)).toBe('abc123');
  });
});

describe('Azure inference API keys', () => {
  it('generates a 48-character key in the stack state and stores it in the RBAC Key Vault', () => {
    const password = onlyOfType(of('az-inf'), 'random:index/randomPassword:RandomPassword');
    expect(password.inputs).toMatchObject({ length: 48, special: false });
    expect(revealed(vaultSecret('az-inf', 'api-keys')).properties.value).toBe(generatedPassword(password.name));
    expect(onlyOfType(of('az-inf'), 'azure-native:keyvault:Vault').inputs.properties.enableRbacAuthorization).toBe(true);
  });

  it('mounts the key as the file API_KEYS_FILE names, by Key Vault reference, never as a value', () => {
    const inputs = app('az-inf');
    const identity = onlyOfType(of('az-inf'), 'azure-native:managedidentity:UserAssignedIdentity');
    expect(inputs.configuration.secrets).toEqual([
      { name: 'api-keys', keyVaultUrl: expect.stringMatching(/^https:\/\/.+\.vault\.azure\.net\/secrets\/api-keys$/), identity: `${identity.name}-id` },
    ]);
    expect(inputs.template.volumes).toEqual([{ name: 'api-keys', storageType: 'Secret', secrets: [{ secretRef: 'api-keys', path: 'keys' }] }]);
    expect(inputs.template.containers[0].volumeMounts).toEqual([{ volumeName: 'api-keys', mountPath: '/secrets/api-keys' }]);
    expect(vars('az-inf').API_KEYS_FILE).toBe('/secrets/api-keys/keys');
    expect(vars('az-inf')).not.toHaveProperty('API_KEYS');
  });

  it('grants the identity Key Vault Secrets User on the vault it reads', () => {
    const vault = onlyOfType(of('az-inf'), 'azure-native:keyvault:Vault');
    const grants = ofType(of('az-inf'), 'azure-native:authorization:RoleAssignment').map((grant) => grant.inputs);
    expect(grants).toContainEqual(
      expect.objectContaining({ scope: `${vault.name}-id`, roleDefinitionId: expect.stringContaining(KEY_VAULT_SECRETS_USER), principalId: 'az-inf-id-principal' }),
    );
  });

  it('outputs where the key lives and the az command that prints it', async () => {
    const uri = await valueOf(inference.apiKeysSecret);
    expect(uri).toMatch(/^https:\/\/az-inf-kv-[0-9a-f]{7}\.vault\.azure\.net\/secrets\/api-keys$/);
    expect(await valueOf(inference.apiKeysReadCommand)).toBe(`az keyvault secret show --id ${uri} --query value --output tsv`);
  });

  it('uses the Key Vault secret auth.apiKeysSecret names, generating nothing and creating no vault', async () => {
    expect(ofType(of('az-keys'), 'random:index/randomPassword:RandomPassword')).toHaveLength(0);
    expect(ofType(of('az-keys'), 'azure-native:keyvault:Vault')).toHaveLength(0);
    expect(app('az-keys').configuration.secrets).toEqual([expect.objectContaining({ name: 'api-keys', keyVaultUrl: 'https://corp-kv.vault.azure.net/secrets/gpt2-keys' })]);
    expect(await valueOf(byoKeys.apiKeysSecret)).toBe('https://corp-kv.vault.azure.net/secrets/gpt2-keys');
  });
});

describe('Azure proxy endpoint', () => {
  it('runs on the Consumption profile with no GPU profile in its environment', () => {
    expect(env('az-proxy').workloadProfiles).toEqual([{ name: 'Consumption', workloadProfileType: 'Consumption' }]);
    expect(app('az-proxy').workloadProfileName).toBe('Consumption');
  });

  it('reads its secrets from Key Vault by reference through the identity', () => {
    const identity = onlyOfType(of('az-proxy'), 'azure-native:managedidentity:UserAssignedIdentity');
    const inputs = app('az-proxy');
    expect(inputs.configuration.secrets).toEqual([
      { name: 'openai-api-key', keyVaultUrl: expect.stringMatching(/^https:\/\/.+\.vault\.azure\.net\/secrets\/openai-api-key$/), identity: `${identity.name}-id` },
      { name: 'proxy-client-keys', keyVaultUrl: expect.stringMatching(/\/secrets\/proxy-client-keys$/), identity: `${identity.name}-id` },
      { name: 'redis-url', keyVaultUrl: expect.stringMatching(/\/secrets\/redis-url$/), identity: `${identity.name}-id` },
    ]);
    const containerEnv: any[] = inputs.template.containers[0].env;
    expect(containerEnv).toContainEqual({ name: 'OPENAI_API_KEY', secretRef: 'openai-api-key' });
    expect(containerEnv).toContainEqual({ name: 'PROXY_KEYS', secretRef: 'proxy-client-keys' });
    expect(containerEnv).toContainEqual({ name: 'REDIS_URL', secretRef: 'redis-url' });
  });

  it('keeps the plaintext key out of every resource but the Key Vault secret', () => {
    const holders = captured.filter((resource) => JSON.stringify(resource.inputs).includes(OPENAI_KEY));
    expect(new Set(holders.map((resource) => resource.type))).toEqual(new Set(['azure-native:keyvault:Secret']));
  });

  it('tells the proxy how many replicas it may run', () => {
    expect(vars('az-proxy').PROXY_REPLICAS).toBe('4');
    expect(vars('az-solo').PROXY_REPLICAS).toBe('1');
  });

  it('references an existing Key Vault secret from the spec instead of creating one', () => {
    const secrets = ofType(of('az-byo'), 'azure-native:keyvault:Secret').map((secret) => secret.inputs.secretName);
    expect(secrets).toEqual(['proxy-client-keys']);
    expect(app('az-byo').configuration.secrets[0]).toMatchObject({ name: 'openai-api-key', keyVaultUrl: 'https://corp-kv.vault.azure.net/secrets/openai' });
  });

  it('outputs the internal URL for a private endpoint and no API key secret', async () => {
    expect(await valueOf(proxy.url)).toBe('https://az-proxy.example.azurecontainerapps.io');
    expect(proxy.apiKeysSecret).toBeUndefined();
  });
});

describe('Azure proxy config file', () => {
  it('stores proxy.config.file in Key Vault and mounts it where PROXY_CONFIG_FILE points', () => {
    expect(revealed(vaultSecret('az-cfg', 'proxy-config')).properties.value).toBe(readFileSync(path.join(root, 'deploy/proxy.example.json'), 'utf8'));
    const inputs = app('az-cfg');
    expect(inputs.template.volumes).toContainEqual({ name: 'proxy-config', storageType: 'Secret', secrets: [{ secretRef: 'proxy-config', path: 'config.json' }] });
    expect(inputs.template.containers[0].volumeMounts).toContainEqual({ volumeName: 'proxy-config', mountPath: '/secrets/proxy-config' });
    expect(vars('az-cfg').PROXY_CONFIG_FILE).toBe('/secrets/proxy-config/config.json');
  });

  it('mounts an existing Key Vault secret named by proxy.config.secret', () => {
    expect(app('az-cfgref').configuration.secrets).toContainEqual(
      expect.objectContaining({ name: 'proxy-config', keyVaultUrl: 'https://corp-kv.vault.azure.net/secrets/proxy-config' }),
    );
    expect(ofType(of('az-cfgref'), 'azure-native:keyvault:Secret').map((secret) => secret.inputs.secretName)).not.toContain('proxy-config');
  });

  it('refuses a config file the proxy would refuse, naming the field, before declaring anything', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'proxy-config-'));
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ keys: [{ name: 'a', sha256: 'not-a-digest' }] }));
    const deploy = () =>
      deployAzure(proxySpec({ name: 'az-badcfg', proxy: { config: { file: 'bad.json' } } }), { openaiApiKey: pulumi.secret(OPENAI_KEY) }, { projectRoot: dir });
    expect(deploy).toThrow(SpecError);
    expect(deploy).toThrow(/proxy\.config\.file bad\.json is not a valid proxy config: keys\.0\.sha256/);
    expect(of('az-badcfg')).toHaveLength(0);
  });

  it('refuses a config file that does not exist, saying where paths start', () => {
    expect(() =>
      deployAzure(proxySpec({ name: 'az-nocfg', proxy: { config: { file: 'missing.json' } } }), { openaiApiKey: pulumi.secret(OPENAI_KEY) }, { projectRoot: root }),
    ).toThrow(/proxy\.config\.file missing\.json cannot be read \(ENOENT\); paths are relative to/);
  });

  it('refuses a config larger than a Key Vault secret holds', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'proxy-config-'));
    const keys = Array.from({ length: 400 }, (_, i) => ({ name: `key-${i}`, sha256: 'a'.repeat(64) }));
    writeFileSync(path.join(dir, 'big.json'), JSON.stringify({ keys }));
    expect(() =>
      deployAzure(proxySpec({ name: 'az-bigcfg', proxy: { config: { file: 'big.json' } } }), { openaiApiKey: pulumi.secret(OPENAI_KEY) }, { projectRoot: dir }),
    ).toThrow(/bytes; azure's secret store holds at most 25600/);
  });
});

describe('Azure proxy shared state', () => {
  const redisCluster = () => onlyOfType(of('az-proxy'), 'azure-native:redisenterprise:RedisEnterprise');

  it('creates Azure Managed Redis with TLS 1.2, no public network access and a replica', () => {
    expect(redisCluster().inputs).toMatchObject({
      sku: { name: 'Balanced_B0' },
      highAvailability: 'Enabled',
      minimumTlsVersion: '1.2',
      publicNetworkAccess: 'Disabled',
    });
    expect(redisCluster().inputs.clusterName).toMatch(/^az-proxy-redis-[0-9a-f]{6}$/);
    expect(onlyOfType(of('az-proxy'), 'azure-native:redisenterprise:Database').inputs).toMatchObject({
      databaseName: 'default',
      clientProtocol: 'Encrypted',
      port: 10000,
      clusteringPolicy: 'NoCluster',
      evictionPolicy: 'NoEviction',
    });
  });

  it('puts the environment on a VNet whose delegated subnet it owns, with the Redis private endpoint beside it', () => {
    const vnet = onlyOfType(of('az-proxy'), 'azure-native:network:VirtualNetwork');
    expect(vnet.inputs.subnets).toMatchObject([
      { name: 'apps', addressPrefix: '10.42.0.0/23', delegations: [{ name: 'container-apps', serviceName: 'Microsoft.App/environments' }] },
      { name: 'endpoints', addressPrefix: '10.42.2.0/27' },
    ]);
    expect(env('az-proxy').vnetConfiguration).toEqual({ infrastructureSubnetId: `${vnet.name}-id/subnets/apps`, internal: false });
    const endpoint = onlyOfType(of('az-proxy'), 'azure-native:network:PrivateEndpoint').inputs;
    expect(endpoint.subnet).toMatchObject({ id: `${vnet.name}-id/subnets/endpoints` });
    expect(endpoint.privateLinkServiceConnections).toEqual([{ name: 'redis', privateLinkServiceId: `${redisCluster().name}-id`, groupIds: ['redisEnterprise'] }]);
  });

  it('resolves the Redis host name to the private endpoint through the privatelink zone linked to the VNet', () => {
    const zone = onlyOfType(of('az-proxy'), 'azure-native:privatedns:PrivateZone');
    expect(zone.inputs.privateZoneName).toBe('privatelink.redis.azure.net');
    const link = onlyOfType(of('az-proxy'), 'azure-native:privatedns:VirtualNetworkLink').inputs;
    expect(link).toMatchObject({ privateZoneName: 'privatelink.redis.azure.net', registrationEnabled: false });
    expect(link.virtualNetwork.id).toBe(`${onlyOfType(of('az-proxy'), 'azure-native:network:VirtualNetwork').name}-id`);
    expect(onlyOfType(of('az-proxy'), 'azure-native:network:PrivateDnsZoneGroup').inputs.privateDnsZoneConfigs).toEqual([
      { name: 'redis', privateDnsZoneId: `${zone.name}-id` },
    ]);
  });

  it('stores REDIS_URL as rediss:// with the percent-encoded access key on port 10000', () => {
    const host = `${redisCluster().inputs.clusterName}.${redisCluster().inputs.location}.redis.azure.net`;
    expect(revealed(vaultSecret('az-proxy', 'redis-url')).properties.value).toBe(`rediss://:${encodeURIComponent(MANAGED_REDIS_KEY)}@${host}:10000`);
    expect(app('az-proxy').template.containers[0].env.find((e: any) => e.name === 'REDIS_URL')).toEqual({ name: 'REDIS_URL', secretRef: 'redis-url' });
  });

  it('creates no Redis, no VNet and no REDIS_URL for a single replica', () => {
    expect(ofType(of('az-solo'), 'azure-native:redisenterprise:RedisEnterprise')).toHaveLength(0);
    expect(ofType(of('az-solo'), 'azure-native:network:VirtualNetwork')).toHaveLength(0);
    expect(env('az-solo').vnetConfiguration).toBeUndefined();
    expect(app('az-solo').configuration.secrets.map((secret: any) => secret.name)).not.toContain('redis-url');
  });
});

describe('Azure monitoring', () => {
  const alerts = (prefix: string) => ofType(of(prefix), 'azure-native:monitor:MetricAlert').map((alert) => alert.inputs);

  it('alerts on a saturated GPU, the replica ceiling, memory and 5xx, scoped to the app', () => {
    const appId = `${onlyOfType(of('az-inf'), 'azure-native:app:ContainerApp').name}-id`;
    const byMetric: Record<string, any> = Object.fromEntries(alerts('az-inf').map((alert) => [alert.criteria.allOf[0].metricName, alert]));
    expect(Object.keys(byMetric).sort()).toEqual(['GpuUtilizationPercentage', 'MemoryPercentage', 'Replicas', 'Requests']);
    for (const alert of Object.values(byMetric)) {
      expect(alert.scopes).toEqual([appId]);
      expect(alert.criteria.allOf[0].metricNamespace).toBe('Microsoft.App/containerApps');
    }
    expect(byMetric.GpuUtilizationPercentage.criteria.allOf[0]).toMatchObject({ operator: 'GreaterThan', threshold: 90, timeAggregation: 'Average' });
    expect(byMetric.Replicas.criteria.allOf[0]).toMatchObject({ operator: 'GreaterThanOrEqual', threshold: 3, timeAggregation: 'Minimum' });
    expect(byMetric.Requests.criteria.allOf[0].dimensions).toEqual([{ name: 'statusCodeCategory', operator: 'Include', values: ['5xx'] }]);
  });

  it('alerts the proxy without the GPU rule', () => {
    expect(alerts('az-proxy').map((alert) => alert.criteria.allOf[0].metricName)).not.toContain('GpuUtilizationPercentage');
  });

  it('mails alarmEmail through an action group every alert uses', () => {
    const group = onlyOfType(of('az-alarm'), 'azure-native:monitor:ActionGroup');
    expect(group.inputs.emailReceivers).toEqual([{ name: 'alarm-email', emailAddress: 'oncall@example.com', useCommonAlertSchema: true }]);
    expect(alerts('az-alarm').every((alert) => alert.actions.length === 1 && alert.actions[0].actionGroupId === `${group.name}-id`)).toBe(true);
    expect(ofType(of('az-inf'), 'azure-native:monitor:ActionGroup')).toHaveLength(0);
  });

  it('charts GPU utilization, requests and replicas of the app on a portal dashboard', () => {
    const dashboard = onlyOfType(of('az-inf'), 'azure-native:portal:Dashboard').inputs;
    const metrics = dashboard.properties.lenses[0].parts.map((part: any) => part.metadata.inputs[0].value.chart.metrics[0]);
    expect(metrics.map((metric: any) => metric.name)).toEqual(expect.arrayContaining(['GpuUtilizationPercentage', 'Requests', 'Replicas']));
    const appId = `${onlyOfType(of('az-inf'), 'azure-native:app:ContainerApp').name}-id`;
    expect(metrics.every((metric: any) => metric.resourceMetadata.id === appId)).toBe(true);
  });
});

describe('Azure registryOnly bootstrap', () => {
  it('declares the registry, identity and pull grant but no environment or app, and needs no image', async () => {
    const outputs = deployAzure(parseDeploymentSpec({ name: 'az-boot', target: 'azure' }), {}, { registryOnly: true });
    await settle();
    const types = of('az-boot').map((resource) => resource.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'azure-native:containerregistry:Registry',
        'azure-native:managedidentity:UserAssignedIdentity',
        'azure-native:authorization:RoleAssignment',
      ]),
    );
    expect(types).not.toContain('azure-native:app:ManagedEnvironment');
    expect(types).not.toContain('azure-native:app:ContainerApp');
    expect(types).not.toContain('random:index/randomPassword:RandomPassword');
    expect(outputs.url).toBeUndefined();
    expect(await valueOf(outputs.registry)).toMatch(/^azboot[0-9a-f]{8}\.azurecr\.io$/);
  });
});

describe('Azure spec checks', () => {
  const deploy = (input: Partial<DeploymentSpecInput> & { name: string }, secrets: { openaiApiKey?: pulumi.Output<string> } = {}) => () =>
    deployAzure(spec(input), secrets);

  it('rejects a GPU type that Container Apps does not offer serverless, naming the ones it does', () => {
    expect(deploy({ name: 'az-bad-gpu', compute: { gpuType: 'nvidia-l4' } })).toThrow(SpecError);
    expect(deploy({ name: 'az-bad-gpu', compute: { gpuType: 'nvidia-l4' } })).toThrow(
      /compute\.gpuType "nvidia-l4".*Consumption-GPU-NC8as-T4, Consumption-GPU-NC24-A100/,
    );
  });

  it('rejects a model whose batch of full contexts does not fit the T4, with the numbers and the fix', () => {
    const big = { name: 'az-huge', model: { id: 'onnx-community/gpt2-xl' }, scaling: { targetConcurrency: 16 } };
    expect(deploy(big)).toThrow(SpecError);
    expect(deploy(big)).toThrow(/gpt2-xl \(fp32\) at MAX_BATCH_SIZE 16 x 1024 tokens needs 16\.8 GB .* NVIDIA T4 16 GB's 16\.0 GB\. Lower scaling\.targetConcurrency to 14 or less/);
    expect(deploy({ ...big, name: 'az-hugea100', compute: { gpuType: 'Consumption-GPU-NC24-A100' } })).not.toThrow();
  });

  it('deploys a model it cannot size with a warning naming model.size', () => {
    deployAzure(spec({ name: 'az-custom', model: { id: 'acme/tiny-lm' } }), {});
    expect(warnings).toContainEqual(expect.stringMatching(/az-custom.*acme\/tiny-lm names no GPT-2 family member.*set model\.size/));
  });

  it('rejects a spec without an image and says how to push one into the stack registry', () => {
    expect(() => deployAzure(parseDeploymentSpec({ name: 'az-noimage', target: 'azure' }), {})).toThrow(/no image.*gpt2-openai-toolkit:gpu.*registryOnly/);
  });

  it('rejects AWS-only options instead of ignoring them', () => {
    expect(deploy({ name: 'az-spot', compute: { spot: true } })).toThrow(/compute\.spot/);
  });

  it('rejects a proxy with no OpenAI key and says how to set one', () => {
    expect(() => deployAzure(proxySpec({ name: 'az-nokey' }), {})).toThrow(/pulumi config set --secret openaiApiKey/);
  });

  it('rejects a spec for another target', () => {
    expect(() => deployAzure(parseDeploymentSpec({ name: 'gcp-spec', target: 'gcp', image: IMAGE }), {})).toThrow(/targets gcp, not azure/);
  });

  it('declares nothing when the spec is rejected', () => {
    expect(of('az-bad-gpu')).toHaveLength(0);
    expect(of('az-nokey')).toHaveLength(0);
    expect(of('az-huge')).toHaveLength(0);
  });
});
