import * as pulumi from '@pulumi/pulumi';
import { deployGcp } from '../../../infra/gcp';
import type { StackOutputs } from '../../../infra/pulumi/outputs';
import { parseDeploymentSpec, SpecError, type DeploymentSpecInput } from '../../../infra/spec';
import { type CapturedResource, installMocks, ofType, onlyOfType, settle, valueOf } from '../pulumi/mocks';

// deployGcp declares resources only when called; the provider reads gcp:project from this config.
const captured: CapturedResource[] = installMocks({ 'gcp:project': 'demo-project' });

const OPENAI_KEY = 'sk-test-PLAINTEXT-SENTINEL-9876543210';
const IMAGE = 'us-central1-docker.pkg.dev/demo-project/gcp-inf/gpt2-openai-toolkit:gpu-1';

function spec(input: Partial<DeploymentSpecInput> & { name: string }) {
  return parseDeploymentSpec({ target: 'gcp', region: 'us-central1', image: IMAGE, ...input });
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

let inference: StackOutputs;

beforeAll(async () => {
  inference = deployGcp(spec({ name: 'gcp-inf', scaling: { minReplicas: 0, maxReplicas: 2, targetConcurrency: 6 } }), {});
  deployGcp(
    spec({ name: 'gcp-proxy', variant: 'proxy', endpoint: { public: false }, scaling: { minReplicas: 1, maxReplicas: 5, targetConcurrency: 80 } }),
    { openaiApiKey: pulumi.secret(OPENAI_KEY) },
  );
  deployGcp(spec({ name: 'gcp-ha', compute: { gpuZonalRedundancy: true } }), {});
  deployGcp(spec({ name: 'gcp-byo', variant: 'proxy', proxy: { openaiKeySecret: 'projects/corp/secrets/openai' } }), {});
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

  it('scales between the spec bounds with the per-instance concurrency from targetConcurrency', () => {
    expect(service('gcp-inf').template).toMatchObject({
      scaling: { minInstanceCount: 0, maxInstanceCount: 2 },
      maxInstanceRequestConcurrency: 6,
    });
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
    const envs: any[] = container('gcp-inf').envs;
    const vars = Object.fromEntries(envs.map((e) => [e.name, e.value]));
    expect(vars).toMatchObject({ VARIANT: 'inference', EXECUTION_PROVIDER: 'cuda', HOST: '0.0.0.0' });
    expect(vars).not.toHaveProperty('PORT');
    expect(container('gcp-inf').ports).toEqual({ containerPort: 8080 });
  });

  it('lets allUsers invoke a public service and labels it public', () => {
    const invokers = ofType(of('gcp-inf'), 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember').map((r) => r.inputs);
    expect(invokers).toEqual([expect.objectContaining({ name: 'gcp-inf', role: 'roles/run.invoker', member: 'allUsers', location: 'us-central1' })]);
    expect(service('gcp-inf').labels['endpoint-visibility']).toBe('public');
  });

  it('runs as a service account that may only read the repository and write logs and metrics', () => {
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
    expect(ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember')).toHaveLength(0);
  });

  it('creates a Docker repository in the region and outputs its URL and the service URL', async () => {
    const repo = onlyOfType(of('gcp-inf'), 'gcp:artifactregistry/repository:Repository').inputs;
    expect(repo).toMatchObject({ format: 'DOCKER', location: 'us-central1', repositoryId: 'gcp-inf' });
    expect(await valueOf(inference.registry)).toBe('us-central1-docker.pkg.dev/demo-project/gcp-inf');
    expect(await valueOf(inference.url)).toBe('https://gcp-inf-abc123-uc.a.run.app');
  });

  it('sizes an RTX PRO 6000 instance at the 20 vCPU / 80 GiB minimum Cloud Run requires', async () => {
    deployGcp(spec({ name: 'gcp-rtx', compute: { gpuType: 'nvidia-rtx-pro-6000' } }), {});
    await settle();
    expect(service('gcp-rtx').template.nodeSelector).toEqual({ accelerator: 'nvidia-rtx-pro-6000' });
    expect(container('gcp-rtx').resources.limits).toEqual({ cpu: '20', memory: '80Gi', 'nvidia.com/gpu': '1' });
  });
});

describe('GCP proxy service', () => {
  it('runs without a GPU', () => {
    expect(service('gcp-proxy').template.nodeSelector).toBeUndefined();
    expect(container('gcp-proxy').resources.limits).not.toHaveProperty('nvidia.com/gpu');
    expect(service('gcp-proxy').template.maxInstanceRequestConcurrency).toBe(80);
  });

  it('reads both secrets from Secret Manager by reference', () => {
    const envs: any[] = container('gcp-proxy').envs;
    expect(envs).toContainEqual({ name: 'OPENAI_API_KEY', valueSource: { secretKeyRef: { secret: 'gcp-proxy-openai-api-key', version: 'latest' } } });
    expect(envs).toContainEqual({ name: 'PROXY_KEYS', valueSource: { secretKeyRef: { secret: 'gcp-proxy-proxy-client-keys', version: 'latest' } } });
    expect(envs.filter((e) => e.name === 'OPENAI_API_KEY' || e.name === 'PROXY_KEYS').every((e) => e.value === undefined)).toBe(true);
  });

  it('grants secretAccessor to the runtime account on each secret, not on the project', () => {
    const stack = of('gcp-proxy');
    const member = 'serviceAccount:gcp-proxy-run@demo-project.iam.gserviceaccount.com';
    const grants = ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs);
    expect(grants).toEqual([
      expect.objectContaining({ secretId: 'gcp-proxy-openai-api-key', role: 'roles/secretmanager.secretAccessor', member }),
      expect.objectContaining({ secretId: 'gcp-proxy-proxy-client-keys', role: 'roles/secretmanager.secretAccessor', member }),
    ]);
    expect(ofType(stack, 'gcp:projects/iAMMember:IAMMember').map((grant) => grant.inputs.role)).not.toContain('roles/secretmanager.secretAccessor');
  });

  it('keeps the plaintext key out of every resource but its secret version', () => {
    const holders = captured.filter((resource) => JSON.stringify(resource.inputs).includes(OPENAI_KEY));
    expect(holders.map((resource) => resource.type)).toEqual(['gcp:secretmanager/secretVersion:SecretVersion']);
  });

  it('binds no public invoker when the spec says the endpoint is not public', () => {
    expect(ofType(of('gcp-proxy'), 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember')).toHaveLength(0);
    expect(service('gcp-proxy').labels['endpoint-visibility']).toBe('private');
  });

  it('references an existing secret from the spec and grants access to it', () => {
    const stack = of('gcp-byo');
    expect(ofType(stack, 'gcp:secretmanager/secret:Secret').map((secret) => secret.inputs.secretId)).toEqual(['gcp-byo-proxy-client-keys']);
    expect(container('gcp-byo').envs).toContainEqual({
      name: 'OPENAI_API_KEY',
      valueSource: { secretKeyRef: { secret: 'projects/corp/secrets/openai', version: 'latest' } },
    });
    expect(ofType(stack, 'gcp:secretmanager/secretIamMember:SecretIamMember').map((grant) => grant.inputs.secretId)).toContain(
      'projects/corp/secrets/openai',
    );
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

  it('rejects a custom domain it would silently not map', () => {
    expect(() => deployGcp(spec({ name: 'gcp-dom', endpoint: { domainName: 'api.example.com' } }), {})).toThrow(/domainName/);
  });

  it('rejects a proxy with no OpenAI key', () => {
    expect(() => deployGcp(spec({ name: 'gcp-nokey', variant: 'proxy' }), {})).toThrow(/openaiApiKey/);
    expect(of('gcp-nokey')).toHaveLength(0);
  });
});
