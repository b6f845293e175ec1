import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildAwsApp, PLACEHOLDER_ACCOUNT, specFilesFromContext, stackNameFor } from '../../../infra/aws/build-app';
import { SpecError } from '../../../infra/spec';
import { startFakeHub, type FakeHub } from '../../service/models/fake-hub';
import { newApp, REPO_ROOT, warningsOf } from './cdk-app';

/** Synthesis without the model hub, as tests and offline CI run it. */
const UNPINNED = { pinModelRevision: 'false' };

const specDir = mkdtempSync(path.join(tmpdir(), 'aws-specs-'));

/** Writes `spec` as a JSON file and returns its path. */
function specFile(name: string, spec: unknown): string {
  const file = path.join(specDir, `${name}.json`);
  writeFileSync(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return file;
}

/** The SpecError buildAwsApp rejects with for a spec file holding `spec`. */
async function specErrorFor(spec: unknown): Promise<string> {
  const file = specFile(`bad-${Math.random().toString(36).slice(2)}`, spec);
  const error: unknown = await buildAwsApp(newApp({ spec: file, ...UNPINNED })).then(
    () => new Error(`expected ${JSON.stringify(spec)} to be rejected`),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(SpecError);
  return (error as Error).message;
}

describe('the CDK app without -c spec', () => {
  let assembly: CloudAssembly;
  const cwd = process.cwd();

  beforeAll(async () => {
    // cdk runs the app from the repository root; spec paths are relative to it.
    process.chdir(REPO_ROOT);
    try {
      const app = newApp(UNPINNED);
      await buildAwsApp(app);
      // Synthesis runs the cdk-nag plugin registered by buildAwsApp; any unacknowledged finding throws here.
      assembly = app.synth();
    } finally {
      process.chdir(cwd);
    }
  });

  it('synthesizes both example stacks offline, in the spec region with the placeholder account', () => {
    const stacks = assembly.stacks.map((stack) => [stack.stackName, stack.environment.region, stack.environment.account]);
    expect(stacks.sort()).toEqual([
      ['gpt2-aws', 'us-east-1', process.env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT],
      ['gpt2-aws-proxy', 'us-east-1', process.env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT],
    ]);
  });

  it('outputs EndpointUrl from each stack', () => {
    for (const stack of assembly.stacks) {
      expect(Object.keys(stack.template.Outputs)).toContain('EndpointUrl');
    }
  });

  it('spreads the VPC over two availability zones from the committed context, with no lookup left to do', () => {
    expect(assembly.manifest.missing ?? []).toEqual([]);
    for (const stack of assembly.stacks) {
      const subnets = Object.values(stack.template.Resources as Record<string, { Type: string; Properties: { AvailabilityZone?: string } }>)
        .filter((resource) => resource.Type === 'AWS::EC2::Subnet')
        .map((resource) => resource.Properties.AvailabilityZone);
      expect(new Set(subnets)).toEqual(new Set(['us-east-1a', 'us-east-1b']));
    }
  });
});

describe('cdk-nag in synthesis', () => {
  it('fails synthesis on a finding nobody acknowledged', async () => {
    const app = newApp({ spec: path.join(REPO_ROOT, 'deploy/aws-proxy.json') });
    const [stack] = await buildAwsApp(app);
    const vpc = (stack as Stack & { network: { vpc: ec2.IVpc } }).network.vpc;
    const open = new ec2.SecurityGroup(stack!, 'WideOpen', { vpc, description: 'unacknowledged on purpose' });
    open.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));
    expect(() => app.synth()).toThrow(/WideOpen[\s\S]*AwsSolutions-EC23/);
  });
});

describe('the spec context', () => {
  it('defaults to the two example specs and splits a comma-separated list', () => {
    expect(specFilesFromContext(undefined)).toEqual(['deploy/aws-inference.json', 'deploy/aws-proxy.json']);
    expect(specFilesFromContext('deploy/a.json, deploy/b.json')).toEqual(['deploy/a.json', 'deploy/b.json']);
    expect(() => specFilesFromContext(' , ')).toThrow(/-c spec=/);
  });

  it('builds one stack per spec file, named after the spec, in its region', async () => {
    const dev = specFile('dev', { name: 'gpt2-dev', target: 'aws', region: 'eu-west-1' });
    const proxy = specFile('dev-proxy', { name: 'gpt2-dev-proxy', target: 'aws', variant: 'proxy', region: 'us-west-2' });
    const stacks = await buildAwsApp(newApp({ spec: `${dev},${proxy}`, ...UNPINNED }));
    expect(stacks.map((stack) => [stack.stackName, stack.region, stack.constructor.name])).toEqual([
      ['gpt2-dev', 'eu-west-1', 'InferenceStack'],
      ['gpt2-dev-proxy', 'us-west-2', 'ProxyStack'],
    ]);
  });

  it('appends -c environment to the stack name, so staging and production can share an account', async () => {
    const dev = specFile('env', { name: 'gpt2-env', target: 'aws', variant: 'proxy' });
    const [staging] = await buildAwsApp(newApp({ spec: dev, environment: 'staging', ...UNPINNED }));
    const [production] = await buildAwsApp(newApp({ spec: dev, environment: 'production', ...UNPINNED }));
    expect([staging!.stackName, production!.stackName]).toEqual(['gpt2-env-staging', 'gpt2-env-production']);
    expect(stackNameFor('gpt2-env')).toBe('gpt2-env');
    expect(staging!.tags.tagValues()).toMatchObject({ 'gpt2-openai-toolkit:environment': 'staging', 'gpt2-openai-toolkit:deployment': 'gpt2-env' });
    // Names that must be unique in an account and region carry the environment too.
    const template = JSON.stringify(Template.fromStack(staging!).toJSON());
    expect(template).toContain('"DashboardName":"gpt2-env-staging-proxy"');
    expect(template).toContain('"ServerlessCacheName":"gpt2-env-staging"');
    await expect(buildAwsApp(newApp({ spec: dev, environment: 'Prod!' }))).rejects.toThrow(/context "environment" must be/);
  });
});

describe('model revision pinning', () => {
  let hub: FakeHub;
  const hfEndpoint = process.env.HF_ENDPOINT;

  beforeAll(async () => {
    const modelDir = mkdtempSync(path.join(tmpdir(), 'hub-model-'));
    writeFileSync(path.join(modelDir, 'config.json'), '{}');
    hub = await startFakeHub('onnx-community/gpt2-ONNX', modelDir);
  });
  afterAll(async () => {
    process.env.HF_ENDPOINT = hfEndpoint;
    await hub.close();
  });

  it("resolves the spec's branch to its commit at synth: the image's build argument, the task's MODEL_REVISION and ImageModelRevision", async () => {
    process.env.HF_ENDPOINT = hub.endpoint;
    const file = specFile('pinned', { name: 'gpt2-pinned', target: 'aws', model: { id: 'onnx-community/gpt2-ONNX', revision: 'main' } });
    const app = newApp({ spec: file });
    const [stack] = await buildAwsApp(app);
    const template = Template.fromStack(stack!);
    template.hasOutput('ImageModelRevision', { Value: hub.commit });
    const container = (Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0] as any).Properties.ContainerDefinitions[0];
    expect(container.Environment).toContainEqual({ Name: 'MODEL_REVISION', Value: hub.commit });
    const assets = JSON.parse(readFileSync(path.join(app.outdir, 'gpt2-pinned.assets.json'), 'utf8'));
    const image = Object.values(assets.dockerImages as Record<string, { source: { dockerBuildArgs: Record<string, string> } }>)[0]!;
    expect(image.source.dockerBuildArgs).toMatchObject({ MODEL_ID: 'onnx-community/gpt2-ONNX', MODEL_REVISION: hub.commit });
    expect(hub.requests.map((request) => request.path)).toContain('/api/models/onnx-community/gpt2-ONNX/revision/main');
  });

  it('names the spec file when the hub cannot resolve the revision', async () => {
    process.env.HF_ENDPOINT = hub.endpoint;
    const file = specFile('unresolvable', { name: 'gpt2-nobranch', target: 'aws', model: { revision: 'no-such-branch' } });
    await expect(buildAwsApp(newApp({ spec: file }))).rejects.toThrow(/unresolvable\.json: model\.revision: cannot resolve "no-such-branch"/);
  });

  it('keeps the written revision with -c pinModelRevision=false, and warns that it is not pinned', async () => {
    const file = specFile('unpinned', { name: 'gpt2-unpinned', target: 'aws' });
    const [stack] = await buildAwsApp(newApp({ spec: file, ...UNPINNED }));
    Template.fromStack(stack!).hasOutput('ImageModelRevision', { Value: 'main' });
    expect(warningsOf(stack!)).toContainEqual(expect.stringMatching(/model.revision "main" is not pinned to a commit/));
  });
});

describe('spec errors name the file and the field', () => {
  it('rejects a GPU type ECS cannot give one GPU per task', async () => {
    const message = await specErrorFor({ name: 'gpt2-dev', target: 'aws', compute: { gpuType: 'p3.8xlarge' } });
    expect(message).toMatch(/bad-.*\.json cannot be deployed to AWS/);
    expect(message).toContain('compute.gpuType: p3.8xlarge is not a supported single-GPU ECS instance type');
  });

  it('rejects scale to zero, which request-count scaling cannot recover from', async () => {
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'aws', scaling: { minReplicas: 0 } })).toContain('scaling.minReplicas');
  });

  it('rejects a spec for another cloud', async () => {
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'gcp' })).toContain('target: "gcp" is not deployed by the AWS CDK app');
  });

  it('rejects a proxy drain longer than Fargate waits after SIGTERM', async () => {
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'aws', variant: 'proxy', drainSeconds: 300 })).toContain(
      'drainSeconds: 300 is too long for Fargate',
    );
  });

  it('rejects a secret reference that is not a Secrets Manager ARN', async () => {
    const message = await specErrorFor({ name: 'gpt2-dev', target: 'aws', variant: 'proxy', proxy: { openaiKeySecret: 'my-openai-key' } });
    expect(message).toContain('proxy.openaiKeySecret: my-openai-key is not a Secrets Manager secret ARN');
  });

  it('rejects more NAT gateways than AZs and unknown fields, through the shared spec schema', async () => {
    const message = await specErrorFor({ name: 'gpt2-dev', target: 'aws', network: { natGateways: 3 }, gpu: 'g5' });
    expect(message).toContain('network.natGateways');
    expect(message).toContain('gpu');
  });

  it('rejects a file that is not JSON, or missing, and two specs with one name', async () => {
    expect(await specErrorFor('{ name: gpt2 ')).toContain('is not valid JSON');
    await expect(buildAwsApp(newApp({ spec: path.join(specDir, 'missing.json') }))).rejects.toThrow(/cannot read spec file .*missing\.json/);
    const first = specFile('twin-a', { name: 'gpt2-twin', target: 'aws', variant: 'proxy' });
    const second = specFile('twin-b', { name: 'gpt2-twin', target: 'aws', variant: 'proxy' });
    await expect(buildAwsApp(newApp({ spec: `${first},${second}` }))).rejects.toThrow(/name: "gpt2-twin" is already used/);
  });

  it('rejects a public endpoint without TLS unless endpoint.allowHttp says so, naming the fields that give TLS', async () => {
    const message = await specErrorFor({ name: 'gpt2-dev', target: 'aws', endpoint: { public: true } });
    expect(message).toContain('endpoint.public: a public endpoint needs TLS: give endpoint.certificateArn, or endpoint.domainName with endpoint.hostedZoneId');
    expect(message).toContain('endpoint.allowHttp: true');
  });

  it('rejects a hosted zone without a domain name, a zone id of the wrong form, and a certificate from another region', async () => {
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'aws', endpoint: { hostedZoneId: 'Z0123456789ABC' } })).toContain(
      'endpoint.hostedZoneId: needs endpoint.domainName',
    );
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'aws', endpoint: { domainName: 'a.example.com', hostedZoneId: 'example.com' } })).toContain(
      'endpoint.hostedZoneId: example.com is not a Route 53 hosted zone id',
    );
    const certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789012';
    expect(await specErrorFor({ name: 'gpt2-dev', target: 'aws', endpoint: { certificateArn } })).toContain(
      'endpoint.certificateArn: the certificate is in eu-west-1; a load balancer in us-east-1 needs one from us-east-1',
    );
  });

  it('rejects a model whose weights and KV cache do not fit the GPU, with the numbers', async () => {
    const message = await specErrorFor({ name: 'gpt2-dev', target: 'aws', model: { id: 'openai-community/gpt2-xl' }, scaling: { targetConcurrency: 16 } });
    expect(message).toMatch(/model: gpt2-xl \(fp32\) needs 16\.8 GB of GPU memory on g4dn\.xlarge but its NVIDIA T4 has 15\.5 GB usable/);
  });
});
