import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { deployGcp } from '../../../infra/gcp';
import type { StackOutputs } from '../../../infra/pulumi/outputs';
import { parseDeploymentSpec, SpecError, type DeploymentSpecInput } from '../../../infra/spec';
import {
  type CapturedResource,
  generatedPassword,
  installMocks,
  MEMORYSTORE_AUTH,
  MEMORYSTORE_CA,
  ofType,
  onlyOfType,
  revealed,
  settle,
  valueOf,
} from '../pulumi/mocks';

// deployGcp declares resources only when called; the provider reads gcp:project from this config.
const captured: CapturedResource[] = installMocks({ 'gcp:project': 'demo-project' });

const root = path.join(__dirname, '..', '..', '..');
const OPENAI_KEY = 'sk-test-PLAINTEXT-SENTINEL-9876543210';
const IMAGE = 'us-central1-docker.pkg.dev/demo-project/gcp-inf/gpt2-openai-toolkit:gpu-1';

function spec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return parseDeploymentSpec({ target: 'gcp', region: 'us-central1', image: IMAGE, endpoint: { public: true }, ...input });
}

function proxySpec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return spec({ variant: 'proxy', ...input });
}

function of(prefix: string): CapturedResource[] {
  return captured.filter((resource) => resource.name === prefix || resource.name.startsWith(`${prefix}-`));
}

function service(prefix: string): Record<string, any> {
  return onlyOfType(of(prefix), 'gcp:cloudrunv2/service:Service').inputs;
}

function container(prefix: string): Record<string, any> {
  return service(prefix).template.containers[0];
}

function vars(prefix: string): Record<string, string | undefined> {
  return Object.fromEntries(container(prefix).envs.map((e: any) => [e.name, e.value]));
}

/** The payload of the secret version the stack wrote for `<prefix>-<secretName>`. */
function secretData(prefix: string, secretName: string): string {
  const version = onlyOfType(
    of(prefix).filter((resource) => resource.name === `${prefix}-${secretName}-v`),
    'gcp:secretmanager/secretVersion:SecretVersion',
  );
  return revealed(version.inputs).secretData;
}

let inference: StackOutputs;
let byoKeys: StackOutputs;

beforeAll(async () => {
  inference = deployGcp(
    spec({ name: 'gcp-inf', scaling: { minReplicas: 0, maxReplicas: 2, targetConcurrency: 6 }, model: { revision: '0123abcd', dtype: 'q4' } }),
    {},
  );
  deployGcp(
    proxySpec({ name: 'gcp-proxy', endpoint: { public: false }, scaling: { minReplicas: 1, maxReplicas: 5, targetConcurrency: 80 } }),
    { openaiApiKey: pulumi.secret(OPENAI_KEY) },
  );
  deployGcp(proxySpec({ name: 'gcp-solo', scaling: { maxReplicas: 1 }, proxy: { config: { file: 'deploy/proxy.example.json' } } }), { openaiApiKey: pulumi.secret(OPENAI_KEY) }, { projectRoot: root });
  deployGcp(spec({ name: 'gcp-ha', compute: { gpuZonalRedundancy: true }, endpoint: { public: false }, maxRequestSeconds: 1800 }), {});
  deployGcp(proxySpec({ name: 'gcp-byo', scaling: { maxReplicas: 1 }, proxy: { openaiKeySecret: 'projects/corp/secrets/openai' } }), {});
  byoKeys = deployGcp(spec({ name: 'gcp-keys', auth: { apiKeysSecret: 'projects/corp/secrets/gpt2-keys' } }), {});
  deployGcp(spec({ name: 'gcp-alarm', alarmEmail: 'oncall@example.com' }), {});
  await settle();
});

describe('GCP inference service', () => {
  it('asks for one L4 with at least 4 CPU and 16 GiB, CPU always allocated and boosted at startup', () => {
    expect(service('gcp-inf').template.nodeSelector).toEqual({ accelerator: 'nvidia-l4' });
    expect(container('gcp-inf').resources).toEqual({
      limits: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' },
      cpuIdle: false,
      startupCpuBoost: true,
    });
  });

  it('runs gen2 with zonal GPU redundancy off by default and on when the spec asks', () => {
    expect(service('gcp-inf').template).toMatchObject({ executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2', gpuZonalRedundancyDisabled: true });
    expect(service('gcp-ha').template.gpuZonalRedundancyDisabled).toBe(false);
  });

  it('scales between the spec bounds with per-instance concurrency equal to the batch it runs', () => {
    expect(service('gcp-inf').template).toMatchObject({ scaling: { minInstanceCount: 0, maxInstanceCount: 2 }, maxInstanceRequestConcurrency: 6 });
    expect(vars('gcp-inf').MAX_BATCH_SIZE).toBe('6');
  });

  it('waits up to five minutes for /ready within Cloud Run probe limits, then checks /health', () => {
    const startup = container('gcp-inf').startupProbe;
    expect(startup.httpGet).toEqual({ path: '/ready', port: 8080 });
    expect(startup.initialDelaySeconds + startup.periodSeconds * startup.failureThreshold).toBeGreaterThanOrEqual(300);
    expect(startup.periodSeconds * startup.failureThreshold).toBeLessThanOrEqual(240);
    expect(startup.initialDelaySeconds).toBeLessThanOrEqual(240);
    expect(container('gcp-inf').livenessProbe.httpGet).toEqual({ path: '/health', port: 8080 });
  });

  it('passes the environment contract without PORT, which Cloud Run reserves', () => {
    expect(vars('gcp-inf')).toMatchObject({
      VARIANT: 'inference',
      EXECUTION_PROVIDER: 'cuda',
      HOST: '0.0.0.0',
      MODEL_REVISION: '0123abcd',
      MODEL_DTYPE: 'q4',
      PLAYGROUND: 'true',
    });
    expect(vars('gcp-inf')).not.toHaveProperty('PORT');
  });

  it('routes only the API port; /metrics is on METRICS_PORT inside the instance', () => {
    expect(container('gcp-inf').ports).toEqual({ containerPort: 8080 });
    expect(vars('gcp-inf').METRICS_PORT).toBe('9464');
    const others = service('gcp-inf').template.containers.slice(1);
    expect(others.every((sidecar: any) => sidecar.ports === undefined)).toBe(true);
  });

  it('drains within Cloud Run\'s fixed 10 s SIGTERM grace and keeps connections longer than the front end', () => {
    expect(vars('gcp-inf').DRAIN_TIMEOUT_SECONDS).toBe('8');
    expect(vars('gcp-inf').KEEP_ALIVE_TIMEOUT_SECONDS).toBe('605');
  });

  it('lets a request run for maxRequestSeconds', () => {
    expect(service('gcp-inf').template.timeout).toBe('300s');
    expect(service('gcp-ha').template.timeout).toBe('1800s');
  });

  it('makes a public service public by disabling the invoker IAM check, with no allUsers binding', () => {
    expect(service('gcp-inf').invokerIamDisabled).toBe(true);
    expect(service('gcp-inf').labels['endpoint-visibility']).toBe('public');
    expect(captured.filter((resource) => resource.type.startsWith('gcp:cloudrunv2/serviceIam'))).toHaveLength(0);
  });

  it('keeps the invoker check on for a private service', () => {
    expect(service('gcp-ha').invokerIamDisabled).toBe(false);
    expect(service('gcp-ha').labels['endpoint-visibility']).toBe('private');
  });

  it('runs as a service account that may only read the repository, its secrets, and write logs and metrics', () => {
    const stack = of('gcp-inf');
    const account = onlyOfType(stack, 'gcp:serviceaccount/account:Account');
    const member = `serviceAccount:${account.inputs.accountId}@demo-project.iam.gserviceaccount.com`;
    expect(service('gcp-inf').template.serviceAccount).toBe(`${account.inputs.accountId}@demo-project.iam.gserviceaccount.com`);
    const repoGrant = onlyOfType(stack, 'gcp:artifactregistry/repositoryIamMember:RepositoryIamMember').inputs;
    expect(repoGrant).toMatchObject({ role: 'roles/artifactregistry.reader', member, repository: 'gcp-inf', location: 'us-central1' });
    const projectRoles = ofType(stack, 'gcp:projects/iAMMember:IAMMember').map((grant) => [grant.inputs.role, grant.inputs.member]);
    expect(projectRoles.sort()).toEqual([
      ['roles/logging.logWriter', member],
      ['roles/monitoring.metricWriter', member],
    ]);
    const secretGrants = ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs);
    expect(secretGrants.map((grant) => grant.secretId).sort()).toEqual(['gcp-inf-api-keys', 'gcp-inf-gmp-config']);
    expect(secretGrants.every((grant) => grant.member === member && grant.role === 'roles/secretmanager.secretAccessor')).toBe(true);
  });

  it('creates a Docker repository in the region and outputs its URL, the service URL and the model revision', async () => {
    const repo = onlyOfType(of('gcp-inf'), 'gcp:artifactregistry/repository:Repository').inputs;
    expect(repo).toMatchObject({ format: 'DOCKER', location: 'us-central1', repositoryId: 'gcp-inf' });
    expect(await valueOf(inference.registry)).toBe('us-central1-docker.pkg.dev/demo-project/gcp-inf');
    expect(await valueOf(inference.url)).toBe('https://gcp-inf-abc123-uc.a.run.app');
    expect(await valueOf(inference.modelRevision)).toBe('0123abcd');
  });

  it('sizes an RTX PRO 6000 instance at the 20 vCPU / 80 GiB minimum Cloud Run requires', async () => {
    deployGcp(spec({ name: 'gcp-rtx', compute: { gpuType: 'nvidia-rtx-pro-6000' } }), {});
    await settle();
    expect(service('gcp-rtx').template.nodeSelector).toEqual({ accelerator: 'nvidia-rtx-pro-6000' });
    expect(container('gcp-rtx').resources.limits).toEqual({ cpu: '20', memory: '80Gi', 'nvidia.com/gpu': '1' });
  });
});

describe('GCP inference API keys', () => {
  it('generates a key in the stack state and stores it in Secret Manager', () => {
    const password = onlyOfType(of('gcp-inf'), 'random:index/randomPassword:RandomPassword');
    expect(password.inputs).toMatchObject({ length: 48, special: false });
    expect(secretData('gcp-inf', 'api-keys')).toBe(generatedPassword(password.name));
  });

  it('mounts the key as a secret volume at latest, where API_KEYS_FILE points', () => {
    expect(service('gcp-inf').template.volumes).toContainEqual({
      name: 'api-keys',
      secret: { secret: 'gcp-inf-api-keys', items: [{ version: 'latest', path: 'keys' }] },
    });
    expect(container('gcp-inf').volumeMounts).toEqual([{ name: 'api-keys', mountPath: '/secrets/api-keys' }]);
    expect(vars('gcp-inf').API_KEYS_FILE).toBe('/secrets/api-keys/keys');
    expect(vars('gcp-inf')).not.toHaveProperty('API_KEYS');
  });

  it('outputs the secret resource name and the gcloud command that prints the key', async () => {
    expect(await valueOf(inference.apiKeysSecret)).toBe('projects/demo-project/secrets/gcp-inf-api-keys');
    expect(await valueOf(inference.apiKeysReadCommand)).toBe('gcloud secrets versions access latest --secret projects/demo-project/secrets/gcp-inf-api-keys');
  });

  it('mounts the secret auth.apiKeysSecret names and grants access to it, generating nothing', async () => {
    expect(ofType(of('gcp-keys'), 'random:index/randomPassword:RandomPassword')).toHaveLength(0);
    expect(service('gcp-keys').template.volumes).toContainEqual({
      name: 'api-keys',
      secret: { secret: 'projects/corp/secrets/gpt2-keys', items: [{ version: 'latest', path: 'keys' }] },
    });
    expect(ofType(of('gcp-keys'), 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs.secretId)).toContain(
      'projects/corp/secrets/gpt2-keys',
    );
    expect(await valueOf(byoKeys.apiKeysSecret)).toBe('projects/corp/secrets/gpt2-keys');
  });
});

describe('GCP Prometheus sidecar', () => {
  const sidecar = () => service('gcp-inf').template.containers[1];

  it('runs Google\'s pinned collector after the server, with its config mounted where it reads it', () => {
    expect(service('gcp-inf').template.containers).toHaveLength(2);
    expect(sidecar()).toMatchObject({
      name: 'metrics-collector',
      image: 'us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0',
      dependsOns: ['server'],
      volumeMounts: [{ name: 'gmp-config', mountPath: '/etc/rungmp' }],
    });
    expect(service('gcp-inf').template.volumes).toContainEqual({
      name: 'gmp-config',
      secret: { secret: 'gcp-inf-gmp-config', items: [{ version: 'latest', path: 'config.yaml' }] },
    });
  });

  it('scrapes /metrics on METRICS_PORT', () => {
    const config = secretData('gcp-inf', 'gmp-config');
    expect(config).toContain('kind: RunMonitoring');
    expect(config).toMatch(/- port: "9464"\n\s+path: \/metrics/);
  });

  it('is not added to the proxy', () => {
    expect(service('gcp-proxy').template.containers).toHaveLength(1);
  });
});

describe('GCP monitoring', () => {
  const policies = (prefix: string) => ofType(of(prefix), 'gcp:monitoring/alertPolicy:AlertPolicy').map((policy) => policy.inputs);
  const policy = (prefix: string, displayName: string): Record<string, any> => {
    const found = policies(prefix).find((candidate) => candidate.displayName === displayName);
    if (found === undefined) throw new Error(`no alert policy "${displayName}" in ${prefix}`);
    return found;
  };

  it('alerts on GPU memory from Cloud Run\'s built-in metric', () => {
    const gpu = policy('gcp-inf', 'gcp-inf: GPU memory high');
    expect(gpu.conditions[0].conditionThreshold).toMatchObject({
      filter: 'resource.type = "cloud_run_revision" AND resource.labels.service_name = "gcp-inf" AND metric.type = "run.googleapis.com/container/gpu/memory_utilizations"',
      comparison: 'COMPARISON_GT',
      thresholdValue: 0.9,
      duration: '300s',
    });
  });

  it('alerts on queue depth with PromQL over the sidecar\'s vllm:num_requests_waiting', () => {
    const queue = policy('gcp-inf', 'gcp-inf: requests queueing');
    expect(queue.conditions[0].conditionPrometheusQueryLanguage).toEqual({
      query: 'max(vllm:num_requests_waiting{cluster="__run__",namespace="gcp-inf"}) > 6',
      duration: '300s',
      evaluationInterval: '60s',
    });
  });

  it('alerts the proxy on 5xx, the instance ceiling and memory, without GPU or queue policies', () => {
    expect(policies('gcp-proxy').map((inputs) => inputs.displayName).sort()).toEqual([
      'gcp-proxy: 5xx responses',
      'gcp-proxy: at max instances',
      'gcp-proxy: memory high',
    ]);
  });

  it('mails alarmEmail through one channel every policy notifies', () => {
    const channel = onlyOfType(of('gcp-alarm'), 'gcp:monitoring/notificationChannel:NotificationChannel');
    expect(channel.inputs).toMatchObject({ type: 'email', labels: { email_address: 'oncall@example.com' } });
    expect(policies('gcp-alarm').every((inputs) => inputs.notificationChannels.length === 1)).toBe(true);
    expect(policies('gcp-inf').every((inputs) => inputs.notificationChannels.length === 0)).toBe(true);
  });

  it('charts GPU utilization, GPU memory, queue depth and instances on a dashboard', () => {
    const dashboard = JSON.parse(onlyOfType(of('gcp-inf'), 'gcp:monitoring/dashboard:Dashboard').inputs.dashboardJson);
    const queries = dashboard.mosaicLayout.tiles.map((tile: any) => tile.widget.xyChart.dataSets[0].timeSeriesQuery);
    const text = JSON.stringify(queries);
    for (const expected of ['container/gpu/utilizations', 'container/gpu/memory_utilizations', 'vllm:num_requests_waiting', 'container/instance_count']) {
      expect(text).toContain(expected);
    }
  });

  it('enables the Monitoring and Secret Manager APIs the stack uses', () => {
    const apis = ofType(of('gcp-inf'), 'gcp:projects/service:Service').map((api) => api.inputs.service);
    expect(apis).toEqual(expect.arrayContaining(['monitoring.googleapis.com', 'secretmanager.googleapis.com']));
    expect(apis).not.toContain('redis.googleapis.com');
  });
});

describe('GCP proxy service', () => {
  it('runs without a GPU', () => {
    expect(service('gcp-proxy').template.nodeSelector).toBeUndefined();
    expect(container('gcp-proxy').resources.limits).not.toHaveProperty('nvidia.com/gpu');
    expect(service('gcp-proxy').template.maxInstanceRequestConcurrency).toBe(80);
  });

  it('reads its secrets from Secret Manager by reference', () => {
    const envs: any[] = container('gcp-proxy').envs;
    expect(envs).toContainEqual({ name: 'OPENAI_API_KEY', valueSource: { secretKeyRef: { secret: 'gcp-proxy-openai-api-key', version: 'latest' } } });
    expect(envs).toContainEqual({ name: 'PROXY_KEYS', valueSource: { secretKeyRef: { secret: 'gcp-proxy-proxy-client-keys', version: 'latest' } } });
    expect(envs).toContainEqual({ name: 'REDIS_URL', valueSource: { secretKeyRef: { secret: 'gcp-proxy-redis-url', version: 'latest' } } });
    expect(envs.filter((e) => ['OPENAI_API_KEY', 'PROXY_KEYS', 'REDIS_URL'].includes(e.name)).every((e) => e.value === undefined)).toBe(true);
  });

  it('grants secretAccessor to the runtime account on each secret, not on the project', () => {
    const stack = of('gcp-proxy');
    const member = 'serviceAccount:gcp-proxy-run@demo-project.iam.gserviceaccount.com';
    const grants = ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs);
    expect(grants.map((grant) => grant.secretId)).toEqual(['gcp-proxy-openai-api-key', 'gcp-proxy-proxy-client-keys', 'gcp-proxy-redis-url', 'gcp-proxy-redis-ca']);
    expect(grants.every((grant) => grant.role === 'roles/secretmanager.secretAccessor' && grant.member === member)).toBe(true);
    expect(ofType(stack, 'gcp:projects/iAMMember:IAMMember').map((grant) => grant.inputs.role)).not.toContain('roles/secretmanager.secretAccessor');
  });

  it('keeps the plaintext key out of every resource but its secret version', () => {
    const holders = captured.filter((resource) => JSON.stringify(resource.inputs).includes(OPENAI_KEY));
    expect(new Set(holders.map((resource) => resource.type))).toEqual(new Set(['gcp:secretmanager/secretVersion:SecretVersion']));
  });

  it('tells the proxy how many instances it may run', () => {
    expect(vars('gcp-proxy').PROXY_REPLICAS).toBe('5');
  });

  it('references an existing secret from the spec and grants access to it', () => {
    const stack = of('gcp-byo');
    expect(ofType(stack, 'gcp:secretmanager/secret:Secret').map((secret) => secret.inputs.secretId)).toEqual(['gcp-byo-proxy-client-keys']);
    expect(container('gcp-byo').envs).toContainEqual({
      name: 'OPENAI_API_KEY',
      valueSource: { secretKeyRef: { secret: 'projects/corp/secrets/openai', version: 'latest' } },
    });
    expect(ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs.secretId)).toContain('projects/corp/secrets/openai');
  });

  it('mounts proxy.config.file from Secret Manager where PROXY_CONFIG_FILE points', () => {
    expect(secretData('gcp-solo', 'proxy-config')).toBe(readFileSync(path.join(root, 'deploy/proxy.example.json'), 'utf8'));
    expect(service('gcp-solo').template.volumes).toContainEqual({
      name: 'proxy-config',
      secret: { secret: 'gcp-solo-proxy-config', items: [{ version: 'latest', path: 'config.json' }] },
    });
    expect(container('gcp-solo').volumeMounts).toContainEqual({ name: 'proxy-config', mountPath: '/secrets/proxy-config' });
    expect(vars('gcp-solo').PROXY_CONFIG_FILE).toBe('/secrets/proxy-config/config.json');
  });
});

describe('GCP proxy shared state', () => {
  const instance = () => onlyOfType(of('gcp-proxy'), 'gcp:redis/instance:Instance').inputs;

  it('creates Memorystore for Redis with AUTH, in-transit encryption and a failover replica', () => {
    expect(instance()).toMatchObject({
      tier: 'STANDARD_HA',
      memorySizeGb: 1,
      authEnabled: true,
      transitEncryptionMode: 'SERVER_AUTHENTICATION',
      connectMode: 'DIRECT_PEERING',
      region: 'us-central1',
    });
  });

  it('peers it into the stack\'s own VPC, which the service reaches through Direct VPC egress for private ranges only', () => {
    const network = onlyOfType(of('gcp-proxy'), 'gcp:compute/network:Network');
    expect(network.inputs.autoCreateSubnetworks).toBe(false);
    expect(instance().authorizedNetwork).toBe(`${network.name}-id`);
    const subnet = onlyOfType(of('gcp-proxy'), 'gcp:compute/subnetwork:Subnetwork').inputs;
    expect(subnet).toMatchObject({ network: `${network.name}-id`, ipCidrRange: '10.43.0.0/24', region: 'us-central1' });
    expect(service('gcp-proxy').template.vpcAccess).toEqual({
      networkInterfaces: [{ network: `${network.name}-1a2b3c4`, subnetwork: 'gcp-proxy-run-1a2b3c4' }],
      egress: 'PRIVATE_RANGES_ONLY',
    });
    // Auto-named: a stack created again under the same name does not collide with a network the last destroy left.
    expect(network.inputs.name).toBeUndefined();
    expect(subnet.name).toBeUndefined();
  });

  it('stores REDIS_URL as rediss:// with the percent-encoded AUTH string on the TLS port', () => {
    expect(secretData('gcp-proxy', 'redis-url')).toBe(`rediss://:${encodeURIComponent(MEMORYSTORE_AUTH)}@10.9.0.3:6378`);
  });

  it('delivers the instance CA as the file NODE_EXTRA_CA_CERTS names', () => {
    expect(secretData('gcp-proxy', 'redis-ca')).toBe(`${MEMORYSTORE_CA}\n`);
    expect(vars('gcp-proxy').NODE_EXTRA_CA_CERTS).toBe('/secrets/redis-ca/ca.pem');
    expect(container('gcp-proxy').volumeMounts).toContainEqual({ name: 'redis-ca', mountPath: '/secrets/redis-ca' });
  });

  it('enables the Redis and Compute APIs for it', () => {
    const apis = ofType(of('gcp-proxy'), 'gcp:projects/service:Service').map((api) => api.inputs.service);
    expect(apis).toEqual(expect.arrayContaining(['redis.googleapis.com', 'compute.googleapis.com']));
  });

  it('creates no Redis, no network and no VPC egress for a single instance', () => {
    expect(ofType(of('gcp-solo'), 'gcp:redis/instance:Instance')).toHaveLength(0);
    expect(ofType(of('gcp-solo'), 'gcp:compute/network:Network')).toHaveLength(0);
    expect(service('gcp-solo').template.vpcAccess).toBeUndefined();
  });
});

describe('GCP spec checks', () => {
  it('rejects a GPU type Cloud Run does not offer, naming the one it does', () => {
    expect(() => deployGcp(spec({ name: 'gcp-t4', compute: { gpuType: 'nvidia-tesla-t4' } }), {})).toThrow(SpecError);
    expect(() => deployGcp(spec({ name: 'gcp-t4', compute: { gpuType: 'nvidia-tesla-t4' } }), {})).toThrow(/"nvidia-tesla-t4".*nvidia-l4, nvidia-rtx-pro-6000/);
  });

  it('rejects an Azure GPU profile name', () => {
    expect(() => deployGcp(spec({ name: 'gcp-az', compute: { gpuType: 'Consumption-GPU-NC8as-T4' } }), {})).toThrow(/not a Cloud Run GPU/);
  });

  it('rejects a model whose batch does not fit the L4 and accepts it on the RTX PRO 6000', () => {
    const big = { name: 'gcp-huge', model: { id: 'gpt2-xl' }, scaling: { targetConcurrency: 32 } };
    expect(() => deployGcp(spec(big), {})).toThrow(/gpt2-xl \(fp32\) at MAX_BATCH_SIZE 32 .* NVIDIA L4 24 GB's 24\.0 GB\. Lower scaling\.targetConcurrency to 27 or less/);
    expect(of('gcp-huge')).toHaveLength(0);
    expect(() => deployGcp(spec({ ...big, name: 'gcp-hugerpx', compute: { gpuType: 'nvidia-rtx-pro-6000' } }), {})).not.toThrow();
  });

  it('rejects a custom domain it would silently not map', () => {
    expect(() => deployGcp(spec({ name: 'gcp-dom', endpoint: { domainName: 'api.example.com' } }), {})).toThrow(/domainName/);
  });

  it('rejects a proxy with no OpenAI key', () => {
    expect(() => deployGcp(proxySpec({ name: 'gcp-nokey' }), {})).toThrow(/openaiApiKey/);
    expect(of('gcp-nokey')).toHaveLength(0);
  });
});
