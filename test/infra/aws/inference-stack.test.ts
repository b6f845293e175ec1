import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addDeploymentStack } from '../../../infra/aws/build-app';
import { InferenceStack } from '../../../infra/aws/inference-stack';
import { loadDeploymentSpec } from '../../../infra/spec';
import { awsSpec, newApp, REPO_ROOT } from './cdk-app';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789012';
const ECR_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/gpt2-openai-toolkit:1.2.3';

let app: App;
let defaults: InferenceStack;
let tuned: InferenceStack;
let defaultTemplate: Template;
let tunedTemplate: Template;

function onlyResource(template: Template, type: string): Json {
  const resources = Object.values(template.findResources(type));
  expect(resources).toHaveLength(1);
  return resources[0] as Json;
}

function container(template: Template): Json {
  return onlyResource(template, 'AWS::ECS::TaskDefinition').Properties.ContainerDefinitions[0];
}

function environment(template: Template): Record<string, string> {
  return Object.fromEntries(container(template).Environment.map((entry: Json) => [entry.Name, entry.Value]));
}

beforeAll(() => {
  app = newApp();
  // The committed example, as `cdk deploy` without -c spec reads it.
  defaults = addDeploymentStack(app, loadDeploymentSpec(path.join(REPO_ROOT, 'deploy/aws-inference.json'))) as InferenceStack;
  tuned = addDeploymentStack(
    app,
    awsSpec({
      name: 'gpt2-tuned',
      compute: { gpuType: 'g5.2xlarge', spot: true, onDemandBase: 1 },
      scaling: { minReplicas: 2, maxReplicas: 6, requestsPerReplicaPerMinute: 300 },
      endpoint: { public: false, certificateArn: CERTIFICATE, domainName: 'gpt2.example.com' },
      network: { natGateways: 1 },
      alarmEmail: 'ops@example.com',
      drainSeconds: 90,
      image: ECR_IMAGE,
    }),
  ) as InferenceStack;
  defaultTemplate = Template.fromStack(defaults);
  tunedTemplate = Template.fromStack(tuned);
});

describe('inference task', () => {
  it('gives the container exactly one GPU and the CPU and memory that fit the instance type', () => {
    expect(container(defaultTemplate)).toMatchObject({
      ResourceRequirements: [{ Type: 'GPU', Value: '1' }],
      Cpu: 3584,
      Memory: 14336,
    });
    expect(container(tunedTemplate)).toMatchObject({ ResourceRequirements: [{ Type: 'GPU', Value: '1' }], Cpu: 7680, Memory: 29440 });
  });

  it('runs the CUDA inference variant with the served model name and the spec drain time', () => {
    expect(environment(defaultTemplate)).toMatchObject({
      EXECUTION_PROVIDER: 'cuda',
      VARIANT: 'inference',
      SERVED_MODEL_NAME: 'gpt2',
      DRAIN_TIMEOUT_SECONDS: '30',
      PORT: '8080',
      HOST: '0.0.0.0',
    });
    expect(environment(tunedTemplate).DRAIN_TIMEOUT_SECONDS).toBe('90');
  });

  it('lets a stopping task drain: stop timeout and deregistration delay follow drainSeconds', () => {
    expect(container(defaultTemplate).StopTimeout).toBe(35);
    expect(container(tunedTemplate).StopTimeout).toBe(95);
    tunedTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
  });

  it('builds the gpu target of the Dockerfile (model baked in) unless the spec names an image', () => {
    const manifest = JSON.parse(readFileSync(path.join(app.outdir, 'gpt2-aws.assets.json'), 'utf8'));
    const images = Object.values(manifest.dockerImages) as Json[];
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({ dockerBuildTarget: 'gpu', dockerBuildArgs: { MODEL_ID: 'onnx-community/gpt2-ONNX' }, platform: 'linux/amd64' });
    expect(JSON.stringify(container(defaultTemplate).Image)).toContain('container-assets');
    expect(JSON.stringify(container(tunedTemplate).Image)).toContain('123456789012.dkr.ecr.us-east-1.');
    expect(JSON.stringify(container(tunedTemplate).Image)).toContain('/gpt2-openai-toolkit:1.2.3');
    tunedTemplate.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['ecr:BatchGetImage']),
            Resource: 'arn:aws:ecr:us-east-1:123456789012:repository/gpt2-openai-toolkit',
          }),
        ]),
      },
    });
  });

  it('logs to CloudWatch with a retention', () => {
    defaultTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(container(defaultTemplate).LogConfiguration).toMatchObject({ LogDriver: 'awslogs' });
  });
});

describe('GPU capacity', () => {
  it('launches the ECS GPU-optimized AMI from its public SSM parameter', () => {
    defaultTemplate.hasParameter('*', {
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
    });
  });

  it('uses a launch template with IMDSv2 required and an encrypted root volume, never a launch configuration', () => {
    defaultTemplate.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'g4dn.xlarge',
        MetadataOptions: Match.objectLike({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 }),
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ Encrypted: true, VolumeSize: 100, VolumeType: 'gp3' }) })],
      }),
    });
    defaultTemplate.resourceCountIs('AWS::AutoScaling::LaunchConfiguration', 0);
  });

  it('adds a capacity provider with managed scaling and managed termination protection', () => {
    defaultTemplate.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({
        ManagedScaling: Match.objectLike({ Status: 'ENABLED', TargetCapacity: 100 }),
        ManagedTerminationProtection: 'ENABLED',
      }),
    });
    defaultTemplate.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { NewInstancesProtectedFromScaleIn: true });
  });

  it('runs on-demand only by default, with room for one extra instance during a deployment', () => {
    const group = onlyResource(defaultTemplate, 'AWS::AutoScaling::AutoScalingGroup').Properties;
    expect(group.MixedInstancesPolicy).toBeUndefined();
    expect(group.LaunchTemplate).toBeDefined();
    expect(group).toMatchObject({ MinSize: '0', MaxSize: '5' });
  });

  it('mixes spot over an on-demand base across same-size GPU families when spot is asked for', () => {
    tunedTemplate.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      CapacityRebalance: true,
      MixedInstancesPolicy: {
        InstancesDistribution: Match.objectLike({
          OnDemandBaseCapacity: 1,
          OnDemandPercentageAboveBaseCapacity: 0,
          SpotAllocationStrategy: 'price-capacity-optimized',
        }),
        LaunchTemplate: Match.objectLike({
          Overrides: [{ InstanceType: 'g5.2xlarge' }, { InstanceType: 'g4dn.2xlarge' }, { InstanceType: 'g6.2xlarge' }],
        }),
      },
    });
  });

  it('puts instances in public subnets without NAT, and in private subnets behind one NAT when asked', () => {
    defaultTemplate.resourceCountIs('AWS::EC2::NatGateway', 0);
    tunedTemplate.resourceCountIs('AWS::EC2::NatGateway', 1);
    const subnetRefs = (template: Template) =>
      JSON.stringify(onlyResource(template, 'AWS::AutoScaling::AutoScalingGroup').Properties.VPCZoneIdentifier);
    expect(subnetRefs(defaultTemplate)).toMatch(/publicSubnet/);
    expect(subnetRefs(tunedTemplate)).toMatch(/privateSubnet/);
    defaultTemplate.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: true })] }),
    });
  });
});

describe('service and scaling', () => {
  it('waits for model loading before health checks count, and rolls back a failed deployment', () => {
    defaultTemplate.hasResourceProperties('AWS::ECS::Service', {
      HealthCheckGracePeriodSeconds: 300,
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
      }),
      CapacityProviderStrategy: [Match.objectLike({ Weight: 1 })],
    });
  });

  it('creates the service only after the capacity provider is associated with the cluster', () => {
    const [associationId] = Object.keys(defaultTemplate.findResources('AWS::ECS::ClusterCapacityProviderAssociations'));
    const service = onlyResource(defaultTemplate, 'AWS::ECS::Service');
    expect(service.DependsOn).toContain(associationId);
  });

  it('admits only the load balancer to the GPU instances, on the dynamic host port range', () => {
    const [instanceGroup] = Object.keys(defaultTemplate.findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: Match.stringLikeRegexp('^GPU instances') },
    }));
    const [balancerGroup] = Object.keys(defaultTemplate.findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: Match.stringLikeRegexp('^Load balancer') },
    }));
    const ingress = Object.values(defaultTemplate.findResources('AWS::EC2::SecurityGroupIngress')) as Json[];
    const intoInstances = ingress.filter((rule) => JSON.stringify(rule.Properties.GroupId).includes(instanceGroup!));
    expect(intoInstances.map((rule) => rule.Properties)).toEqual([
      expect.objectContaining({
        FromPort: 32768,
        ToPort: 65535,
        SourceSecurityGroupId: { 'Fn::GetAtt': [balancerGroup, 'GroupId'] },
      }),
    ]);
    defaultTemplate.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [balancerGroup, 'GroupId'] },
      DestinationSecurityGroupId: { 'Fn::GetAtt': [instanceGroup, 'GroupId'] },
      FromPort: 32768,
    });
  });

  it('health-checks readiness on /ready', () => {
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/ready',
      Matcher: { HttpCode: '200' },
    });
  });

  it('scales between the spec replicas on requests per target and on CPU', () => {
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: 4 });
    tunedTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 600,
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
      }),
    });
    tunedTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 300 }),
    });
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 70,
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
  });
});

describe('load balancer', () => {
  it('serves HTTP on 80 only without a certificate, internet-facing by default', () => {
    defaultTemplate.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'forward' })],
    });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
  });

  it('serves HTTPS with the certificate and redirects HTTP, internal when the endpoint is not public', () => {
    tunedTemplate.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
    tunedTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE }],
      DefaultActions: [Match.objectLike({ Type: 'forward' })],
    });
    tunedTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) })],
    });
    tunedTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
  });

  it('writes access logs to an encrypted bucket that refuses plain HTTP', () => {
    defaultTemplate.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    defaultTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'access_logs.s3.enabled', Value: 'true' }]),
    });
  });
});

describe('alarms, dashboard and outputs', () => {
  it('alarms on 5xx rate, unhealthy and missing targets and p99 latency, to the alarm topic', () => {
    const alarms = Object.values(defaultTemplate.findResources('AWS::CloudWatch::Alarm')) as Json[];
    expect(alarms).toHaveLength(4);
    const topicId = Object.keys(defaultTemplate.findResources('AWS::SNS::Topic'))[0];
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnHealthyHostCount', Threshold: 0 });
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HealthyHostCount', Threshold: 1 });
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'TargetResponseTime', ExtendedStatistic: 'p99', Threshold: 30 });
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 5,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: Match.stringLikeRegexp('targetErrors') })]),
    });
  });

  it('encrypts the alarm topic with a key CloudWatch may use, and subscribes the alarm email only when given', () => {
    defaultTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    defaultTemplate.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]),
      },
    });
    defaultTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
    tunedTemplate.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('has a dashboard', () => {
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'gpt2-aws-inference' });
  });

  it('outputs EndpointUrl: the load balancer over HTTP, or the domain over HTTPS', () => {
    defaultTemplate.hasOutput('EndpointUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointLoadBalancer'), 'DNSName'] }]] },
    });
    tunedTemplate.hasOutput('EndpointUrl', { Value: 'https://gpt2.example.com' });
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding, public or internal, on-demand or spot', () => {
    for (const stack of [defaults, tuned]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
      expect(report.success).toBe(true);
    }
  });
});
