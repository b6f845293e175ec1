import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildAwsApp, PLACEHOLDER_ACCOUNT, specFilesFromContext } from '../../../infra/aws/build-app';
import { SpecError } from '../../../infra/spec';
import { newApp, REPO_ROOT } from './cdk-app';

const specDir = mkdtempSync(path.join(tmpdir(), 'aws-specs-'));

/** Writes `spec` as a JSON file and returns its path. */
function specFile(name: string, spec: unknown): string {
  const file = path.join(specDir, `${name}.json`);
  writeFileSync(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return file;
}

/** The SpecError buildAwsApp throws for a spec file holding `spec`. */
function specErrorFor(spec: unknown): string {
  const file = specFile(`bad-${Math.random().toString(36).slice(2)}`, spec);
  try {
    buildAwsApp(newApp({ spec: file }));
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(spec)} to be rejected`);
}

describe('the CDK app without -c spec', () => {
  let assembly: CloudAssembly;
  const cwd = process.cwd();

  beforeAll(() => {
    // cdk runs the app from the repository root; spec paths are relative to it.
    process.chdir(REPO_ROOT);
    try {
      const app = newApp();
      buildAwsApp(app);
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
  it('fails synthesis on a finding nobody acknowledged', () => {
    const app = newApp({ spec: path.join(REPO_ROOT, 'deploy/aws-proxy.json') });
    const [stack] = buildAwsApp(app);
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

  it('builds one stack per spec file, named after the spec, in its region', () => {
    const dev = specFile('dev', { name: 'gpt2-dev', target: 'aws', region: 'eu-west-1' });
    const proxy = specFile('dev-proxy', { name: 'gpt2-dev-proxy', target: 'aws', variant: 'proxy', region: 'us-west-2' });
    const stacks = buildAwsApp(newApp({ spec: `${dev},${proxy}` }));
    expect(stacks.map((stack) => [stack.stackName, stack.region, stack.constructor.name])).toEqual([
      ['gpt2-dev', 'eu-west-1', 'InferenceStack'],
      ['gpt2-dev-proxy', 'us-west-2', 'ProxyStack'],
    ]);
  });
});

describe('spec errors name the file and the field', () => {
  it('rejects a GPU type ECS cannot give one GPU per task', () => {
    const message = specErrorFor({ name: 'gpt2-dev', target: 'aws', compute: { gpuType: 'p3.8xlarge' } });
    expect(message).toMatch(/bad-.*\.json cannot be deployed to AWS/);
    expect(message).toContain('compute.gpuType: p3.8xlarge is not a supported single-GPU ECS instance type');
  });

  it('rejects scale to zero, which request-count scaling cannot recover from', () => {
    expect(specErrorFor({ name: 'gpt2-dev', target: 'aws', scaling: { minReplicas: 0 } })).toContain('scaling.minReplicas');
  });

  it('rejects a spec for another cloud', () => {
    expect(specErrorFor({ name: 'gpt2-dev', target: 'gcp' })).toContain('target: "gcp" is not deployed by the AWS CDK app');
  });

  it('rejects a proxy drain longer than Fargate waits after SIGTERM', () => {
    expect(specErrorFor({ name: 'gpt2-dev', target: 'aws', variant: 'proxy', drainSeconds: 300 })).toContain(
      'drainSeconds: 300 is too long for Fargate',
    );
  });

  it('rejects a secret reference that is not a Secrets Manager ARN', () => {
    const message = specErrorFor({ name: 'gpt2-dev', target: 'aws', variant: 'proxy', proxy: { openaiKeySecret: 'my-openai-key' } });
    expect(message).toContain('proxy.openaiKeySecret: my-openai-key is not a Secrets Manager secret ARN');
  });

  it('rejects more NAT gateways than AZs and unknown fields, through the shared spec schema', () => {
    const message = specErrorFor({ name: 'gpt2-dev', target: 'aws', network: { natGateways: 3 }, gpu: 'g5' });
    expect(message).toContain('network.natGateways');
    expect(message).toContain('gpu');
  });

  it('rejects a file that is not JSON, or missing, and two specs with one name', () => {
    expect(specErrorFor('{ name: gpt2 ')).toContain('is not valid JSON');
    expect(() => buildAwsApp(newApp({ spec: path.join(specDir, 'missing.json') }))).toThrow(/cannot read spec file .*missing\.json/);
    const first = specFile('twin-a', { name: 'gpt2-twin', target: 'aws', variant: 'proxy' });
    const second = specFile('twin-b', { name: 'gpt2-twin', target: 'aws', variant: 'proxy' });
    expect(() => buildAwsApp(newApp({ spec: `${first},${second}` }))).toThrow(/name: "gpt2-twin" is already used/);
  });
});
