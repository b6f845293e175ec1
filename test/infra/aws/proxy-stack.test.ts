import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addDeploymentStack } from '../../../infra/aws/build-app';
import { LOAD_BALANCER_IDLE_TIMEOUT } from '../../../infra/aws/constructs/service-endpoint';
import { PLACEHOLDER_PROXY_KEYS, PROXY_CONFIG_DIRECTORY, ProxyStack } from '../../../infra/aws/proxy-stack';
import { keepAliveSecondsFor, METRICS_PORT } from '../../../infra/aws/service-container';
import { loadDeploymentSpec, SpecError } from '../../../infra/spec';
import { awsSpec, newApp, REPO_ROOT } from './cdk-app';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OPENAI_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-key-AbC123';
const KEYS_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:proxy-keys-XyZ789';
const CONFIG_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:proxy-config-QwE456';
const ZONE = 'Z0123456789EXAMPLE';

const configDir = mkdtempSync(path.join(tmpdir(), 'proxy-config-'));
const CONFIG_FILE = path.join(configDir, 'proxy.json');
const CONFIG_TEXT = JSON.stringify({
  keys: [{ name: 'team-a', sha256: 'd27e15b819ca9baaf65bca7355fef3851fbd0122f83a3e9934081eb9f47ff4dc' }],
  defaultLimits: { requestsPerMinute: 60, tokensPerMinute: 90000, maxConcurrent: 10 },
});
writeFileSync(CONFIG_FILE, CONFIG_TEXT);

let defaults: ProxyStack;
let existingSecrets: ProxyStack;
let withConfigFile: ProxyStack;
let defaultTemplate: Template;
let existingTemplate: Template;
let configTemplate: Template;

function containers(template: Template): Json[] {
  const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition')) as Json[];
  expect(definitions).toHaveLength(1);
  return definitions[0]!.Properties.ContainerDefinitions;
}

function container(template: Template, name = 'proxy'): Json {
  return containers(template).find((definition) => definition.Name === name)!;
}

function environment(template: Template): Record<string, string> {
  return Object.fromEntries(container(template).Environment.map((entry: Json) => [entry.Name, entry.Value]));
}

function secretsByName(template: Template, name = 'proxy'): Record<string, unknown> {
  return Object.fromEntries(container(template, name).Secrets.map((entry: Json) => [entry.Name, entry.ValueFrom]));
}

function logicalIdOf(template: Template, type: string, properties: Json = {}): string {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

beforeAll(() => {
  const app = newApp();
  defaults = addDeploymentStack(app, loadDeploymentSpec(path.join(REPO_ROOT, 'deploy/aws-proxy.json'))) as ProxyStack;
  existingSecrets = addDeploymentStack(
    app,
    awsSpec({
      name: 'proxy-existing',
      variant: 'proxy',
      proxy: {
        upstreamBaseUrl: 'https://llm.internal.example.com/v1',
        openaiKeySecret: OPENAI_SECRET,
        clientKeysSecret: KEYS_SECRET,
        config: { secret: CONFIG_SECRET },
        sharedState: 'none',
      },
      scaling: { minReplicas: 2, maxReplicas: 8, requestsPerReplicaPerMinute: 900 },
      drainSeconds: 100,
    }),
  ) as ProxyStack;
  withConfigFile = addDeploymentStack(
    app,
    awsSpec({ name: 'proxy-config', variant: 'proxy', scaling: { maxReplicas: 1 }, proxy: { config: { file: CONFIG_FILE } }, maxRequestSeconds: 60, drainSeconds: 20 }),
  ) as ProxyStack;
  defaultTemplate = Template.fromStack(defaults);
  existingTemplate = Template.fromStack(existingSecrets);
  configTemplate = Template.fromStack(withConfigFile);
});

describe('proxy task', () => {
  it('runs the proxy variant of the cpu image on Fargate, without a GPU', () => {
    defaultTemplate.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '512',
      Memory: '1024',
    });
    expect(container(defaultTemplate).ResourceRequirements).toBeUndefined();
    defaultTemplate.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE' });
    expect(environment(defaultTemplate)).toMatchObject({ VARIANT: 'proxy', UPSTREAM_BASE_URL: 'https://api.openai.com/v1', PLAYGROUND: 'false' });
    expect(environment(defaultTemplate).EXECUTION_PROVIDER).toBeUndefined();
  });

  it('passes the spec upstream URL through and tells the proxy how many replicas it may run', () => {
    expect(environment(existingTemplate).UPSTREAM_BASE_URL).toBe('https://llm.internal.example.com/v1');
    expect(environment(existingTemplate).PROXY_REPLICAS).toBe('8');
    expect(environment(defaultTemplate).PROXY_REPLICAS).toBe('4');
  });

  it("drains within Fargate's 120 s stop-timeout ceiling, while the load balancer still waits out maxRequestSeconds", () => {
    // maxRequestSeconds 300 wants 300 s after SIGTERM; Fargate allows 120, so the drain is 115 and SIGKILL comes at 120.
    expect(environment(existingTemplate).DRAIN_TIMEOUT_SECONDS).toBe('115');
    expect(container(existingTemplate).StopTimeout).toBe(120);
    existingTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }]),
    });
    // Below the ceiling the longer of drainSeconds and maxRequestSeconds is used.
    expect(environment(configTemplate).DRAIN_TIMEOUT_SECONDS).toBe('60');
    expect(container(configTemplate).StopTimeout).toBe(65);
  });

  it('keeps idle connections longer than the load balancer, and /metrics on a port nothing routes to', () => {
    expect(Number(environment(defaultTemplate).KEEP_ALIVE_TIMEOUT_SECONDS)).toBe(keepAliveSecondsFor(LOAD_BALANCER_IDLE_TIMEOUT));
    expect(Number(environment(defaultTemplate).KEEP_ALIVE_TIMEOUT_SECONDS)).toBeGreaterThan(LOAD_BALANCER_IDLE_TIMEOUT.toSeconds());
    expect(environment(defaultTemplate).METRICS_PORT).toBe(String(METRICS_PORT));
    expect(container(defaultTemplate).PortMappings).toEqual([{ ContainerPort: 8080, Protocol: 'tcp' }]);
    expect(JSON.stringify(defaultTemplate.toJSON())).not.toMatch(new RegExp(`"(FromPort|ToPort|Port|ContainerPort)":"?${METRICS_PORT}\\b`));
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
      Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) })],
    });
  });

  it('injects OPENAI_API_KEY and PROXY_KEYS (and REDIS_URL with shared state) as ECS secrets, never as plain environment', () => {
    expect(Object.keys(secretsByName(defaultTemplate)).sort()).toEqual(['OPENAI_API_KEY', 'PROXY_KEYS', 'REDIS_URL']);
    expect(Object.keys(secretsByName(existingTemplate)).sort()).toEqual(['OPENAI_API_KEY', 'PROXY_KEYS']);
    for (const template of [defaultTemplate, existingTemplate, configTemplate]) {
      for (const entry of container(template).Environment as Json[]) {
        expect(entry.Name).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD|REDIS/);
        expect(String(entry.Value)).not.toMatch(/^sk-/);
      }
    }
  });

  it('creates the OpenAI key secret with a generated placeholder, so no key is ever in the template', () => {
    const secrets = defaultTemplate.findResources('AWS::SecretsManager::Secret');
    const openai = Object.entries(secrets).find(([id]) => id.startsWith('OpenAiKey'));
    expect(openai).toBeDefined();
    expect(openai![1].Properties.GenerateSecretString).toBeDefined();
    expect(openai![1].Properties.SecretString).toBeUndefined();
    expect(secretsByName(defaultTemplate).OPENAI_API_KEY).toEqual({ Ref: openai![0] });
  });

  it('creates the client keys secret holding a digest no key matches, so the proxy admits nobody until keys are set', () => {
    defaultTemplate.hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: PLACEHOLDER_PROXY_KEYS });
    expect(PLACEHOLDER_PROXY_KEYS).toMatch(/^[A-Za-z0-9_.-]+:[0-9a-f]{64}$/);
  });

  it('references existing secrets by ARN and creates none when the spec names them', () => {
    existingTemplate.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(secretsByName(existingTemplate)).toEqual({ OPENAI_API_KEY: OPENAI_SECRET, PROXY_KEYS: KEYS_SECRET });
    // Only the execution role (which the ECS agent uses to fetch secrets) may read them.
    const readers = Object.values(existingTemplate.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes('secretsmanager:GetSecretValue'),
    ) as Json[];
    expect(readers).toHaveLength(1);
    expect(readers[0]!.Properties.PolicyName).toMatch(/^TaskExecutionRole/);
    const readable = JSON.stringify(readers[0]!.Properties.PolicyDocument);
    for (const secret of [OPENAI_SECRET, KEYS_SECRET, CONFIG_SECRET]) expect(readable).toContain(secret);
  });

  it('logs to CloudWatch with a retention', () => {
    defaultTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });
});

describe('PROXY_CONFIG_FILE', () => {
  it('writes the config secret into a task volume with a writer container the proxy waits for, then mounts it read-only', () => {
    for (const [template, secret] of [[existingTemplate, CONFIG_SECRET], [configTemplate, { Ref: logicalIdOf(configTemplate, 'AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp('PROXY_CONFIG_FILE') }) }]] as const) {
      const writer = container(template, 'ProxyConfigFileWriter');
      expect(writer).toMatchObject({ Essential: false, User: '0', Command: ['node', '-e', expect.stringContaining('writeFileSync'), `${PROXY_CONFIG_DIRECTORY}/proxy.json`] });
      expect(secretsByName(template, 'ProxyConfigFileWriter')).toEqual({ SECRET_FILE_CONTENT: secret });
      const proxy = container(template);
      expect(proxy.DependsOn).toEqual([{ ContainerName: 'ProxyConfigFileWriter', Condition: 'SUCCESS' }]);
      const volume = writer.MountPoints[0].SourceVolume;
      expect(writer.MountPoints).toEqual([{ SourceVolume: volume, ContainerPath: PROXY_CONFIG_DIRECTORY, ReadOnly: false }]);
      expect(proxy.MountPoints).toEqual([{ SourceVolume: volume, ContainerPath: PROXY_CONFIG_DIRECTORY, ReadOnly: true }]);
      template.hasResourceProperties('AWS::ECS::TaskDefinition', { Volumes: [{ Name: volume }] });
      expect(environment(template).PROXY_CONFIG_FILE).toBe(`${PROXY_CONFIG_DIRECTORY}/proxy.json`);
    }
  });

  it('stores a local config file in a secret, with its digest in the task so a changed file rolls a new deployment', () => {
    configTemplate.hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: CONFIG_TEXT });
    expect(environment(configTemplate).PROXY_CONFIG_SHA256).toBe(createHash('sha256').update(CONFIG_TEXT).digest('hex'));
    expect(environment(existingTemplate).PROXY_CONFIG_SHA256).toBeUndefined();
    configTemplate.hasOutput('ProxyConfigSecretArn', { Description: Match.stringLikeRegexp('force-new-deployment') });
  });

  it('has no writer and no PROXY_CONFIG_FILE without proxy.config', () => {
    expect(containers(defaultTemplate).map((definition) => definition.Name)).toEqual(['proxy']);
    expect(environment(defaultTemplate).PROXY_CONFIG_FILE).toBeUndefined();
  });

  it('refuses at synth a config file the proxy would refuse, naming the field', () => {
    const bad = path.join(configDir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ keys: [{ name: 'team-a', sha256: 'not-a-digest' }] }));
    const build = () => addDeploymentStack(newApp(), awsSpec({ name: 'proxy-bad', variant: 'proxy', proxy: { config: { file: bad } } }));
    expect(build).toThrow(SpecError);
    expect(build).toThrow(/proxy\.config\.file: .*bad\.json is not a valid proxy config .*keys\.0\.sha256/);
    expect(() => addDeploymentStack(newApp(), awsSpec({ name: 'proxy-none', variant: 'proxy', proxy: { config: { file: path.join(configDir, 'missing.json') } } }))).toThrow(
      /proxy\.config\.file: cannot read .*missing\.json: ENOENT/,
    );
  });
});

describe('shared state (proxy.sharedState: managed)', () => {
  it('creates a Valkey serverless cache in isolated subnets with its own security group and a capped size', () => {
    const cache = Object.values(defaultTemplate.findResources('AWS::ElastiCache::ServerlessCache'))[0] as Json;
    expect(cache.Properties).toMatchObject({
      Engine: 'valkey',
      MajorEngineVersion: '8',
      ServerlessCacheName: 'gpt2-aws-proxy',
      CacheUsageLimits: { DataStorage: { Maximum: 1, Unit: 'GB' }, ECPUPerSecond: { Maximum: 5000 } },
    });
    expect(cache.Properties.SubnetIds).toHaveLength(2);
    for (const subnet of cache.Properties.SubnetIds as Json[]) expect(subnet.Ref).toMatch(/dataSubnet/);
    defaultTemplate.hasResourceProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false, Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Isolated' }]) });
    existingTemplate.resourceCountIs('AWS::ElastiCache::ServerlessCache', 0);
    configTemplate.resourceCountIs('AWS::ElastiCache::ServerlessCache', 0);
  });

  it('admits only the proxy tasks, on the cache ports, and lets the cache send nothing out', () => {
    const cacheGroup = logicalIdOf(defaultTemplate, 'AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp('^Shared-state cache') });
    const service = Object.values(defaultTemplate.findResources('AWS::ECS::Service'))[0] as Json;
    const [taskGroup] = service.Properties.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups.map((group: Json) => group['Fn::GetAtt'][0]);
    const ingress = (Object.values(defaultTemplate.findResources('AWS::EC2::SecurityGroupIngress')) as Json[]).filter((rule) =>
      JSON.stringify(rule.Properties.GroupId).includes(cacheGroup),
    );
    expect(ingress.map((rule) => rule.Properties)).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 6379, ToPort: 6380, SourceSecurityGroupId: { 'Fn::GetAtt': [taskGroup, 'GroupId'] } }),
    ]);
    const group = defaultTemplate.findResources('AWS::EC2::SecurityGroup')[cacheGroup] as Json;
    expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group.Properties.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '255.255.255.255/32' })]);
  });

  it('authenticates the proxy as its own user with a generated password; the default user every group needs is off', () => {
    const cache = Object.values(defaultTemplate.findResources('AWS::ElastiCache::ServerlessCache'))[0] as Json;
    const userGroup = Object.values(defaultTemplate.findResources('AWS::ElastiCache::UserGroup'))[0] as Json;
    expect(userGroup.Properties).toEqual({ Engine: 'valkey', UserGroupId: 'gpt2-aws-proxy-users', UserIds: ['gpt2-aws-proxy-default', 'gpt2-aws-proxy-proxy'] });
    expect(cache.Properties.UserGroupId).toBe('gpt2-aws-proxy-users');
    const users = Object.values(defaultTemplate.findResources('AWS::ElastiCache::User')) as Json[];
    const byName = Object.fromEntries(users.map((user) => [user.Properties.UserName, user.Properties]));
    expect(byName.default).toMatchObject({ Engine: 'valkey', AccessString: 'off -@all' });
    expect(byName.proxy).toMatchObject({ Engine: 'valkey', AccessString: 'on ~* &* +@all' });
    for (const user of users) {
      // A dynamic reference CloudFormation resolves at deploy: no password is in the template.
      expect(JSON.stringify(user.Properties.Passwords)).toMatch(/^\[\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:",\{"Ref":"SharedState\w*Password/);
    }
  });

  it('assembles REDIS_URL as rediss:// (serverless caches take TLS only) with the proxy user and the cache endpoint', () => {
    const [urlId, url] = Object.entries(defaultTemplate.findResources('AWS::SecretsManager::Secret')).find(([id]) => id.startsWith('SharedStateUrl'))!;
    const parts = (url as Json).Properties.SecretString['Fn::Join'][1] as Json[];
    const cacheId = logicalIdOf(defaultTemplate, 'AWS::ElastiCache::ServerlessCache');
    expect(parts[0]).toBe('rediss://proxy:{{resolve:secretsmanager:');
    expect(parts).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [cacheId, 'Endpoint.Address'] }, { 'Fn::GetAtt': [cacheId, 'Endpoint.Port'] }]));
    expect(secretsByName(defaultTemplate).REDIS_URL).toEqual({ Ref: urlId });
  });
});

describe('proxy service', () => {
  it('health-checks /ready behind HTTPS (the example) or HTTP inside the VPC, with a short grace period and rollback', () => {
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/ready', TargetType: 'ip' });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS' });
    defaultTemplate.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'gpt2-proxy.example.com',
      DomainValidationOptions: [{ DomainName: 'gpt2-proxy.example.com', HostedZoneId: ZONE }],
    });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    existingTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    existingTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
    defaultTemplate.hasResourceProperties('AWS::ECS::Service', {
      HealthCheckGracePeriodSeconds: 60,
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) },
    });
  });

  it('admits only the load balancer to the tasks, on the container port', () => {
    const service = Object.values(defaultTemplate.findResources('AWS::ECS::Service'))[0] as Json;
    const [taskGroup] = service.Properties.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups.map(
      (group: Json) => group['Fn::GetAtt'][0],
    );
    const ingress = Object.values(defaultTemplate.findResources('AWS::EC2::SecurityGroupIngress')) as Json[];
    const intoTasks = ingress.filter((rule) => JSON.stringify(rule.Properties.GroupId).includes(taskGroup));
    expect(intoTasks.map((rule) => rule.Properties)).toEqual([
      expect.objectContaining({
        FromPort: 8080,
        ToPort: 8080,
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^EndpointSecurityGroup/), 'GroupId'] },
      }),
    ]);
  });

  it('scales on requests per target and CPU between the spec replicas', () => {
    existingTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 8 });
    existingTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 900,
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
      }),
    });
    existingTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 60,
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
  });

  it('has the same alarms, an encrypted topic, a dashboard and the EndpointUrl output', () => {
    defaultTemplate.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'TargetResponseTime', Threshold: 60 });
    defaultTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'gpt2-aws-proxy-proxy' });
    defaultTemplate.hasOutput('EndpointUrl', { Value: 'https://gpt2-proxy.example.com' });
    existingTemplate.hasOutput('EndpointUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointLoadBalancer'), 'DNSName'] }]] },
    });
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding with created or existing secrets, a config file and shared state', () => {
    for (const stack of [defaults, existingSecrets, withConfigFile]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
      expect(report.success).toBe(true);
    }
  });
});

it('keeps the example proxy config, the file the README points at, valid for proxy.config.file', () => {
  const example = readFileSync(path.join(REPO_ROOT, 'deploy/proxy.example.json'), 'utf8');
  const stack = addDeploymentStack(newApp(), awsSpec({ name: 'proxy-example', variant: 'proxy', proxy: { config: { file: path.join(REPO_ROOT, 'deploy/proxy.example.json') } } }));
  Template.fromStack(stack).hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: example });
});
