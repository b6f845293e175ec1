import * as pulumi from '@pulumi/pulumi';
import { parseDeploymentSpec, SpecError, type DeploymentSpecInput } from '../../../infra/spec';
import { deployAzure } from '../../../infra/azure';
import type { StackOutputs } from '../../../infra/pulumi/outputs';
import { type CapturedResource, installMocks, ofType, onlyOfType, settle, SUBSCRIPTION_ID, valueOf } from '../pulumi/mocks';

// deployAzure declares resources only when called, so importing it before the mocks are set is safe.
const captured: CapturedResource[] = installMocks({});

const OPENAI_KEY = 'sk-test-PLAINTEXT-SENTINEL-0123456789';
const IMAGE = 'gpt2acr.azurecr.io/gpt2-openai-toolkit:gpu-1';

function spec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return parseDeploymentSpec({ target: 'azure', image: IMAGE, ...input });
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

let inference: StackOutputs;
let proxy: StackOutputs;

beforeAll(async () => {
  inference = deployAzure(spec({ name: 'az-inf', scaling: { minReplicas: 0, maxReplicas: 3, targetConcurrency: 4 } }), {});
  proxy = deployAzure(spec({ name: 'az-proxy', variant: 'proxy', image: 'gpt2acr.azurecr.io/gpt2-openai-toolkit:cpu-1', endpoint: { public: false } }), {
    openaiApiKey: pulumi.secret(OPENAI_KEY),
  });
  deployAzure(spec({ name: 'az-a100', compute: { gpuType: 'Consumption-GPU-NC24-A100' } }), {});
  deployAzure(
    spec({
      name: 'az-byo',
      variant: 'proxy',
      proxy: { openaiKeySecret: 'https://corp-kv.vault.azure.net/secrets/openai' },
    }),
    {},
  );
  await settle();
});

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

  it('scales on concurrent requests per replica between the spec bounds, down to zero', () => {
    expect(app('az-inf').template.scale).toEqual({
      minReplicas: 0,
      maxReplicas: 3,
      rules: [{ name: 'http-concurrency', http: { metadata: { concurrentRequests: '4' } } }],
    });
  });

  it('exposes external HTTPS ingress on port 8080 and tags it public', () => {
    const inputs = app('az-inf');
    expect(inputs.configuration.ingress).toMatchObject({ external: true, targetPort: 8080, allowInsecure: false });
    expect(inputs.tags['endpoint-visibility']).toBe('public');
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

  it('passes the inference environment contract with the CUDA provider', () => {
    const vars = Object.fromEntries(app('az-inf').template.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(vars).toMatchObject({ VARIANT: 'inference', EXECUTION_PROVIDER: 'cuda', HOST: '0.0.0.0', PORT: '8080', SERVED_MODEL_NAME: 'gpt2' });
    // A full reference (with a registry host) runs as given.
    expect(app('az-inf').template.containers[0].image).toBe(IMAGE);
  });

  it('pulls from the stack registry with the user-assigned identity that holds AcrPull on it', () => {
    const stack = of('az-inf');
    const registry = onlyOfType(stack, 'azure-native:containerregistry:Registry');
    const identity = onlyOfType(stack, 'azure-native:managedidentity:UserAssignedIdentity');
    const inputs = app('az-inf');
    expect(registry.inputs.adminUserEnabled).toBe(false);
    expect(inputs.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: [`${identity.name}-id`] });
    expect(inputs.configuration.registries).toEqual([{ server: `${registry.inputs.registryName}.azurecr.io`, identity: `${identity.name}-id` }]);
    const grant = onlyOfType(stack, 'azure-native:authorization:RoleAssignment').inputs;
    expect(grant).toMatchObject({ scope: `${registry.name}-id`, principalId: `${identity.name}-principal`, principalType: 'ServicePrincipal' });
    expect(grant.roleDefinitionId).toBe(`/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d`);
  });

  it('creates no Key Vault and no secrets for the inference variant', () => {
    expect(ofType(of('az-inf'), 'azure-native:keyvault:Vault')).toHaveLength(0);
    expect(app('az-inf').configuration.secrets).toEqual([]);
  });

  it('outputs the https URL of the app and the registry CI pushes to', async () => {
    expect(await valueOf(inference.url)).toBe('https://az-inf.example.azurecontainerapps.io');
    expect(await valueOf(inference.registry)).toMatch(/^azinf[0-9a-f]{8}\.azurecr\.io$/);
  });
});

describe('Azure proxy endpoint', () => {
  it('runs on the Consumption profile with no GPU profile in its environment', () => {
    expect(env('az-proxy').workloadProfiles).toEqual([{ name: 'Consumption', workloadProfileType: 'Consumption' }]);
    expect(app('az-proxy').workloadProfileName).toBe('Consumption');
  });

  it('reads both secrets from Key Vault by reference through the identity', () => {
    const stack = of('az-proxy');
    const identity = onlyOfType(stack, 'azure-native:managedidentity:UserAssignedIdentity');
    const inputs = app('az-proxy');
    expect(inputs.configuration.secrets).toEqual([
      { name: 'openai-api-key', keyVaultUrl: expect.stringMatching(/^https:\/\/.+\.vault\.azure\.net\/secrets\/openai-api-key$/), identity: `${identity.name}-id` },
      { name: 'proxy-client-keys', keyVaultUrl: expect.stringMatching(/\/secrets\/proxy-client-keys$/), identity: `${identity.name}-id` },
    ]);
    const containerEnv: any[] = inputs.template.containers[0].env;
    expect(containerEnv).toContainEqual({ name: 'OPENAI_API_KEY', secretRef: 'openai-api-key' });
    expect(containerEnv).toContainEqual({ name: 'PROXY_KEYS', secretRef: 'proxy-client-keys' });
  });

  it('keeps the plaintext key out of every resource but the Key Vault secret', () => {
    const holders = captured.filter((resource) => JSON.stringify(resource.inputs).includes(OPENAI_KEY));
    expect(holders.map((resource) => resource.type)).toEqual(['azure-native:keyvault:Secret']);
  });

  it('uses an RBAC vault and grants the identity Key Vault Secrets User on it', () => {
    const stack = of('az-proxy');
    const vault = onlyOfType(stack, 'azure-native:keyvault:Vault');
    expect(vault.inputs.properties.enableRbacAuthorization).toBe(true);
    const grants = ofType(stack, 'azure-native:authorization:RoleAssignment').map((grant) => grant.inputs);
    expect(grants).toContainEqual(
      expect.objectContaining({
        scope: `${vault.name}-id`,
        roleDefinitionId: expect.stringContaining('4633458b-17de-408a-b874-0445c86b69e6'),
        principalId: 'az-proxy-id-principal',
      }),
    );
  });

  it('makes ingress internal when the spec says the endpoint is not public', () => {
    expect(app('az-proxy').configuration.ingress.external).toBe(false);
    expect(app('az-proxy').tags['endpoint-visibility']).toBe('private');
  });

  it('references an existing Key Vault secret from the spec instead of creating one', () => {
    const stack = of('az-byo');
    const secrets = ofType(stack, 'azure-native:keyvault:Secret').map((secret) => secret.inputs.secretName);
    expect(secrets).toEqual(['proxy-client-keys']);
    expect(app('az-byo').configuration.secrets[0]).toMatchObject({
      name: 'openai-api-key',
      keyVaultUrl: 'https://corp-kv.vault.azure.net/secrets/openai',
    });
  });

  it('outputs the internal URL for a private endpoint', async () => {
    expect(await valueOf(proxy.url)).toBe('https://az-proxy.example.azurecontainerapps.io');
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

  it('rejects a spec without an image and says how to push one into the stack registry', () => {
    expect(() => deployAzure(parseDeploymentSpec({ name: 'az-noimage', target: 'azure' }), {})).toThrow(/no image.*gpt2-openai-toolkit:gpu.*registryOnly/);
  });

  it('rejects AWS-only options instead of ignoring them', () => {
    expect(deploy({ name: 'az-spot', compute: { spot: true } })).toThrow(/compute\.spot/);
  });

  it('rejects a proxy with no OpenAI key and says how to set one', () => {
    expect(deploy({ name: 'az-nokey', variant: 'proxy' })).toThrow(/pulumi config set --secret openaiApiKey/);
  });

  it('rejects a spec for another target', () => {
    expect(() => deployAzure(parseDeploymentSpec({ name: 'gcp-spec', target: 'gcp', image: IMAGE }), {})).toThrow(/targets gcp, not azure/);
  });

  it('declares nothing when the spec is rejected', () => {
    expect(of('az-bad-gpu')).toHaveLength(0);
    expect(of('az-nokey')).toHaveLength(0);
  });
});
