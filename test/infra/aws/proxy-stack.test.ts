import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addDeploymentStack } from '../../../infra/aws/build-app';
import { PLACEHOLDER_PROXY_KEYS, ProxyStack } from '../../../infra/aws/proxy-stack';
import { loadDeploymentSpec } from '../../../infra/spec';
import { awsSpec, newApp, REPO_ROOT } from './cdk-app';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OPENAI_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-key-AbC123';
const KEYS_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:proxy-keys-XyZ789';

let defaults: ProxyStack;
let existingSecrets: ProxyStack;
let defaultTemplate: Template;
let existingTemplate: Template;

function container(template: Template): Json {
  const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition')) as Json[];
  expect(definitions).toHaveLength(1);
  return definitions[0]!.Properties.ContainerDefinitions[0];
}

function secretsByName(template: Template): Record<string, unknown> {
  return Object.fromEntries(container(template).Secrets.map((entry: Json) => [entry.Name, entry.ValueFrom]));
}

beforeAll(() => {
  const app = newApp();
  defaults = addDeploymentStack(app, loadDeploymentSpec(path.join(REPO_ROOT, 'deploy/aws-proxy.json'))) as ProxyStack;
  existingSecrets = addDeploymentStack(
    app,
    awsSpec({
      name: 'proxy-existing',
      variant: 'proxy',
      proxy: { upstreamBaseUrl: 'https://llm.internal.example.com/v1', openaiKeySecret: OPENAI_SECRET, clientKeysSecret: KEYS_SECRET },
      scaling: { minReplicas: 2, maxReplicas: 8, requestsPerReplicaPerMinute: 900 },
      drainSeconds: 100,
    }),
  ) as ProxyStack;
  defaultTemplate = Template.fromStack(defaults);
  existingTemplate = Template.fromStack(existingSecrets);
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
    const environment = Object.fromEntries(container(defaultTemplate).Environment.map((entry: Json) => [entry.Name, entry.Value]));
    expect(environment).toMatchObject({ VARIANT: 'proxy', UPSTREAM_BASE_URL: 'https://api.openai.com/v1', DRAIN_TIMEOUT_SECONDS: '30' });
    expect(environment.EXECUTION_PROVIDER).toBeUndefined();
  });

  it('passes the spec upstream URL and drain time through', () => {
    const environment = Object.fromEntries(container(existingTemplate).Environment.map((entry: Json) => [entry.Name, entry.Value]));
    expect(environment.UPSTREAM_BASE_URL).toBe('https://llm.internal.example.com/v1');
    expect(container(existingTemplate).StopTimeout).toBe(105);
  });

  it('injects OPENAI_API_KEY and PROXY_KEYS as ECS secrets, never as plain environment', () => {
    for (const template of [defaultTemplate, existingTemplate]) {
      const secrets = secretsByName(template);
      expect(Object.keys(secrets).sort()).toEqual(['OPENAI_API_KEY', 'PROXY_KEYS']);
      const environment = container(template).Environment as Json[];
      for (const entry of environment) {
        expect(entry.Name).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD/);
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
    expect(readable).toContain(OPENAI_SECRET);
    expect(readable).toContain(KEYS_SECRET);
  });

  it('logs to CloudWatch with a retention', () => {
    defaultTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });
});

describe('proxy service', () => {
  it('health-checks /ready behind an HTTP listener, with a short grace period and rollback', () => {
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/ready', TargetType: 'ip' });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
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
    defaultTemplate.hasOutput('EndpointUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointLoadBalancer'), 'DNSName'] }]] },
    });
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding with created or existing secrets', () => {
    for (const stack of [defaults, existingSecrets]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
      expect(report.success).toBe(true);
    }
  });
});
