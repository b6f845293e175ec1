import * as pulumi from '@pulumi/pulumi';
import type { ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs } from '@pulumi/policy';
import { deployAzure } from '../../../infra/azure';
import { deployGcp } from '../../../infra/gcp';
import {
  AZURE_CACHE_FOR_REDIS,
  CLOUD_RUN_SERVICE,
  CONTAINER_APP,
  inferenceHasGpu,
  inferenceRequiresApiKeys,
  MANAGED_REDIS_CLUSTER,
  MANAGED_REDIS_DATABASE,
  maxReplicasBounded,
  MEMORYSTORE_REDIS,
  metricsNotOnIngress,
  noPlaintextSecretEnv,
  publicAccessWithoutAllUsers,
  publicIngressOnlyWhenDeclared,
  publicInvokerOnlyWhenDeclared,
  redisPrivateWithTls,
  resourcePolicies,
  stackPolicies,
} from '../../../infra/policies/rules';
import { parseDeploymentSpec } from '../../../infra/spec';
import { type CapturedResource, installMocks, settle } from '../pulumi/mocks';

const captured = installMocks({ 'gcp:project': 'demo-project' });

function asArgs(resource: CapturedResource, config: Record<string, unknown> = {}): ResourceValidationArgs {
  return {
    type: resource.type,
    props: resource.inputs,
    urn: resource.urn,
    name: resource.name,
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason ?? ''}`);
    },
  };
}

/** Runs a resource policy; returns its violation messages. */
async function violations(policy: ResourceValidationPolicy, resource: CapturedResource, config?: Record<string, unknown>): Promise<string[]> {
  const messages: string[] = [];
  const validations = [policy.validateResource ?? []].flat();
  for (const validate of validations) await validate(asArgs(resource, config), (message) => messages.push(message));
  return messages;
}

async function stackViolations(resources: CapturedResource[], policy = publicInvokerOnlyWhenDeclared): Promise<string[]> {
  const messages: string[] = [];
  const args = {
    resources: resources.map((resource) => ({ ...asArgs(resource), dependencies: [], propertyDependencies: {} })),
    getConfig: () => ({}),
  } as unknown as StackValidationArgs;
  await policy.validateStack(args, (message) => messages.push(message));
  return messages;
}

/** A deep copy of a captured resource with its inputs changed by `edit`. */
function altered(resource: CapturedResource, edit: (props: any) => void): CapturedResource {
  const props = structuredClone(resource.inputs);
  edit(props);
  return { ...resource, inputs: props };
}

function find(type: string, name: string): CapturedResource {
  const found = captured.find((resource) => resource.type === type && resource.name.startsWith(name));
  if (found === undefined) throw new Error(`no ${type} named ${name}*`);
  return found;
}

const image = 'registry.example/gpt2:1';
beforeAll(async () => {
  const secrets = { openaiApiKey: pulumi.secret('sk-test-policy-key-123456') };
  deployAzure(parseDeploymentSpec({ name: 'pol-az-inf', target: 'azure', image, endpoint: { public: true } }), {});
  // maxReplicas 4: the proxies share state in a managed Redis.
  deployAzure(parseDeploymentSpec({ name: 'pol-az-proxy', target: 'azure', variant: 'proxy', image, endpoint: { public: false }, scaling: { maxReplicas: 4 } }), secrets);
  deployGcp(parseDeploymentSpec({ name: 'pol-gcp-inf', target: 'gcp', image, endpoint: { public: true } }), {});
  deployGcp(parseDeploymentSpec({ name: 'pol-gcp-proxy', target: 'gcp', variant: 'proxy', image, endpoint: { public: false }, scaling: { maxReplicas: 4 } }), secrets);
  await settle();
});

const azureInference = () => find(CONTAINER_APP, 'pol-az-inf');
const azureProxy = () => find(CONTAINER_APP, 'pol-az-proxy');
const gcpInference = () => find(CLOUD_RUN_SERVICE, 'pol-gcp-inf');
const gcpProxy = () => find(CLOUD_RUN_SERVICE, 'pol-gcp-proxy');

describe('the programs pass every policy', () => {
  it('reports no resource violation for any resource of the four stacks', async () => {
    const found: string[] = [];
    for (const resource of captured) {
      for (const policy of resourcePolicies) found.push(...(await violations(policy, resource)));
    }
    expect(found).toEqual([]);
    expect(captured.length).toBeGreaterThan(30);
  });

  it('reports no stack violation', async () => {
    for (const policy of stackPolicies) expect(await stackViolations(captured, policy)).toEqual([]);
    expect(stackPolicies).toEqual([publicInvokerOnlyWhenDeclared, publicAccessWithoutAllUsers]);
  });
});

describe('no-plaintext-secret-env', () => {
  it('rejects an OpenAI key set as a plain Container App env value', async () => {
    const bad = altered(azureProxy(), (props) => props.template.containers[0].env.push({ name: 'OPENAI_API_KEY', value: 'sk-live-abcdefghijkl' }));
    expect(await violations(noPlaintextSecretEnv, bad)).toEqual([expect.stringContaining('OPENAI_API_KEY as a plaintext value')]);
  });

  it('rejects an inline Container App secret value', async () => {
    const bad = altered(azureProxy(), (props) => props.configuration.secrets.push({ name: 'inline', value: 'hunter2' }));
    expect(await violations(noPlaintextSecretEnv, bad)).toEqual([expect.stringContaining('secrets inline hold inline values')]);
  });

  it('rejects a Cloud Run env var that holds a key by value, whatever it is called', async () => {
    const bad = altered(gcpProxy(), (props) => props.template.containers[0].envs.push({ name: 'UPSTREAM_AUTH', value: 'sk-proj-abcdefghijkl' }));
    expect(await violations(noPlaintextSecretEnv, bad)).toEqual([expect.stringContaining('UPSTREAM_AUTH')]);
  });

  it('accepts file paths named like secrets', async () => {
    const ok = altered(gcpProxy(), (props) => props.template.containers[0].envs.push({ name: 'OPENAI_API_KEY_FILE', value: '/run/secrets/key' }));
    expect(await violations(noPlaintextSecretEnv, ok)).toEqual([]);
  });
});

describe('inference-has-gpu', () => {
  it('rejects an inference Container App moved to the Consumption profile', async () => {
    const bad = altered(azureInference(), (props) => (props.workloadProfileName = 'Consumption'));
    expect(await violations(inferenceHasGpu, bad)).toEqual([expect.stringContaining('"Consumption", which has no GPU')]);
  });

  it('rejects an inference Cloud Run service without the GPU limit', async () => {
    const bad = altered(gcpInference(), (props) => delete props.template.containers[0].resources.limits['nvidia.com/gpu']);
    expect(await violations(inferenceHasGpu, bad)).toEqual([expect.stringContaining('nvidia.com/gpu limit 0')]);
  });

  it('rejects an inference Cloud Run service without an accelerator', async () => {
    const bad = altered(gcpInference(), (props) => delete props.template.nodeSelector);
    expect(await violations(inferenceHasGpu, bad)).toEqual([expect.stringContaining('no nodeSelector.accelerator')]);
  });

  it('treats a container without VARIANT as inference, the service default', async () => {
    const bad = altered(azureProxy(), (props) => {
      props.template.containers[0].env = props.template.containers[0].env.filter((e: { name: string }) => e.name !== 'VARIANT');
    });
    expect(await violations(inferenceHasGpu, bad)).toHaveLength(1);
  });
});

describe('max-replicas-bounded', () => {
  it('rejects a Container App above the configured ceiling', async () => {
    const bad = altered(azureInference(), (props) => (props.template.scale.maxReplicas = 50));
    expect(await violations(maxReplicasBounded, bad)).toEqual([expect.stringContaining('maximum replicas 50 exceeds the allowed 20')]);
    expect(await violations(maxReplicasBounded, bad, { maxReplicas: 60 })).toEqual([]);
  });

  it('rejects a Cloud Run service with no maximum', async () => {
    const bad = altered(gcpInference(), (props) => delete props.template.scaling.maxInstanceCount);
    expect(await violations(maxReplicasBounded, bad)).toEqual([expect.stringContaining('no maximum replica count')]);
  });
});

describe('public-ingress-only-when-declared', () => {
  it('rejects external ingress on a Container App the spec made private', async () => {
    const bad = altered(azureProxy(), (props) => (props.configuration.ingress.external = true));
    expect(await violations(publicIngressOnlyWhenDeclared, bad)).toEqual([expect.stringContaining('endpoint-visibility=private')]);
  });

  it('rejects external ingress when the declaration tag is missing', async () => {
    const bad = altered(azureInference(), (props) => delete props.tags['endpoint-visibility']);
    expect(await violations(publicIngressOnlyWhenDeclared, bad)).toEqual([expect.stringContaining('(unset)')]);
  });
});

describe('public-invoker-only-when-declared', () => {
  const allUsersOn = (service: string): CapturedResource => ({
    type: 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember',
    name: 'stray-invoker',
    urn: 'urn:pulumi:test::gpt2-openai-toolkit::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::stray-invoker',
    inputs: { name: service, location: 'us-central1', role: 'roles/run.invoker', member: 'allUsers' },
  });

  it('rejects an allUsers invoker on a service the spec made private', async () => {
    expect(await stackViolations([...captured, allUsersOn('pol-gcp-proxy')])).toEqual([
      expect.stringContaining('stray-invoker lets anyone invoke Cloud Run service pol-gcp-proxy'),
    ]);
  });

  it('rejects a public invoker policy document on a private service', async () => {
    const policy: CapturedResource = {
      type: 'gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy',
      name: 'open-policy',
      urn: 'urn:pulumi:test::gpt2-openai-toolkit::gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy::open-policy',
      inputs: { name: 'pol-gcp-proxy', policyData: JSON.stringify({ bindings: [{ role: 'roles/run.invoker', members: ['allAuthenticatedUsers'] }] }) },
    };
    expect(await stackViolations([...captured, policy])).toHaveLength(1);
  });

  it("rejects the program's own public access once the service label says private", async () => {
    const relabelled = captured.map((resource) =>
      resource === gcpInference() ? altered(resource, (props) => (props.labels['endpoint-visibility'] = 'private')) : resource,
    );
    expect(await stackViolations(relabelled)).toEqual([expect.stringContaining('pol-gcp-inf disables the invoker IAM check')]);
  });
});

describe('metrics-not-on-ingress', () => {
  it('rejects a container that serves /metrics on the API port (no METRICS_PORT)', async () => {
    const bad = altered(azureInference(), (props) => {
      props.template.containers[0].env = props.template.containers[0].env.filter((e: { name: string }) => e.name !== 'METRICS_PORT');
    });
    expect(await violations(metricsNotOnIngress, bad)).toEqual([expect.stringContaining('METRICS_PORT is not set')]);
  });

  it('rejects Container Apps ingress that maps the metrics port, as the target or an additional port', async () => {
    const target = altered(azureInference(), (props) => (props.configuration.ingress.targetPort = 9464));
    const additional = altered(azureInference(), (props) => (props.configuration.ingress.additionalPortMappings = [{ targetPort: 9464, external: false }]));
    expect(await violations(metricsNotOnIngress, target)).toEqual([expect.stringContaining('ingress routes to METRICS_PORT 9464')]);
    expect(await violations(metricsNotOnIngress, additional)).toEqual([expect.stringContaining('ingress routes to METRICS_PORT 9464')]);
  });

  it('rejects a Cloud Run service whose routed port is the metrics port', async () => {
    const bad = altered(gcpInference(), (props) => (props.template.containers[0].ports.containerPort = 9464));
    expect(await violations(metricsNotOnIngress, bad)).toEqual([expect.stringContaining('METRICS_PORT 9464')]);
  });
});

describe('inference-requires-api-keys', () => {
  it('rejects an inference container without API_KEYS_FILE or API_KEYS, on both clouds', async () => {
    const withoutKeys = (resource: CapturedResource, envField: 'env' | 'envs') =>
      altered(resource, (props) => {
        props.template.containers[0][envField] = props.template.containers[0][envField].filter((e: { name: string }) => !e.name.startsWith('API_KEYS'));
      });
    expect(await violations(inferenceRequiresApiKeys, withoutKeys(azureInference(), 'env'))).toEqual([expect.stringContaining('accepts unauthenticated requests')]);
    expect(await violations(inferenceRequiresApiKeys, withoutKeys(gcpInference(), 'envs'))).toEqual([expect.stringContaining('accepts unauthenticated requests')]);
  });

  it('leaves the proxy to its own client keys', async () => {
    expect(await violations(inferenceRequiresApiKeys, gcpProxy())).toEqual([]);
  });
});

describe('redis-private-with-tls', () => {
  const cluster = () => find(MANAGED_REDIS_CLUSTER, 'pol-az-proxy');
  const database = () => find(MANAGED_REDIS_DATABASE, 'pol-az-proxy');
  const memorystore = () => find(MEMORYSTORE_REDIS, 'pol-gcp-proxy');

  it('rejects Azure Managed Redis open to the public network or below TLS 1.2', async () => {
    const open = altered(cluster(), (props) => (props.publicNetworkAccess = 'Enabled'));
    const oldTls = altered(cluster(), (props) => (props.minimumTlsVersion = '1.0'));
    expect(await violations(redisPrivateWithTls, open)).toEqual([expect.stringContaining('publicNetworkAccess Enabled')]);
    expect(await violations(redisPrivateWithTls, oldTls)).toEqual([expect.stringContaining('require 1.2')]);
  });

  it('rejects a database that accepts plaintext clients', async () => {
    const plaintext = altered(database(), (props) => (props.clientProtocol = 'Plaintext'));
    expect(await violations(redisPrivateWithTls, plaintext)).toEqual([expect.stringContaining('clientProtocol Encrypted')]);
  });

  it('rejects Memorystore without in-transit encryption or AUTH', async () => {
    const clear = altered(memorystore(), (props) => delete props.transitEncryptionMode);
    const anonymous = altered(memorystore(), (props) => (props.authEnabled = false));
    expect(await violations(redisPrivateWithTls, clear)).toEqual([expect.stringContaining('(unset: DISABLED); set SERVER_AUTHENTICATION')]);
    expect(await violations(redisPrivateWithTls, anonymous)).toEqual([expect.stringContaining('AUTH disabled')]);
  });

  it('rejects an Azure Cache for Redis with its non-TLS port open', async () => {
    const cache: CapturedResource = {
      type: AZURE_CACHE_FOR_REDIS,
      name: 'legacy-cache',
      urn: `urn:pulumi:test::gpt2-openai-toolkit::${AZURE_CACHE_FOR_REDIS}::legacy-cache`,
      inputs: { enableNonSslPort: true, publicNetworkAccess: 'Disabled' },
    };
    expect(await violations(redisPrivateWithTls, cache)).toEqual([expect.stringContaining('non-TLS port 6379')]);
  });
});

describe('REDIS_URL by value', () => {
  it('rejects a connection string with a password in a plain variable', async () => {
    const bad = altered(gcpProxy(), (props) => props.template.containers[0].envs.push({ name: 'REDIS_URL', value: 'rediss://:hunter2@10.0.0.3:6378' }));
    expect(await violations(noPlaintextSecretEnv, bad)).toEqual([expect.stringContaining('REDIS_URL')]);
  });
});

describe('public access on Cloud Run', () => {
  it('rejects the invoker check disabled on a service the spec made private', async () => {
    const relabelled = captured.map((resource) =>
      resource === gcpProxy() ? altered(resource, (props) => (props.invokerIamDisabled = true)) : resource,
    );
    expect(await stackViolations(relabelled)).toEqual([expect.stringContaining('pol-gcp-proxy disables the invoker IAM check but is not declared public')]);
  });

  it('advises invokerIamDisabled over an allUsers binding, which Domain restricted sharing refuses', async () => {
    const binding: CapturedResource = {
      type: 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember',
      name: 'public-binding',
      urn: 'urn:pulumi:test::gpt2-openai-toolkit::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::public-binding',
      inputs: { name: 'pol-gcp-inf', role: 'roles/run.invoker', member: 'allUsers' },
    };
    expect(await stackViolations([...captured, binding], publicAccessWithoutAllUsers)).toEqual([
      expect.stringContaining('public-binding makes pol-gcp-inf public through allUsers; set invokerIamDisabled'),
    ]);
    expect(publicAccessWithoutAllUsers.enforcementLevel).toBe('advisory');
  });
});
