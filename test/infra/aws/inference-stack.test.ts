import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addDeploymentStack } from '../../../infra/aws/build-app';
import { BLOCKED_PATH_BODY, LOAD_BALANCER_IDLE_TIMEOUT } from '../../../infra/aws/constructs/service-endpoint';
import { gpuAgentConfig } from '../../../infra/aws/constructs/gpu-capacity';
import { InferenceStack, READ_API_KEY_COMMAND } from '../../../infra/aws/inference-stack';
import { CONTAINER_PORT, keepAliveSecondsFor, METRICS_PORT } from '../../../infra/aws/service-container';
import { loadDeploymentSpec } from '../../../infra/spec';
import { readDockerfile, stage } from '../../containers/dockerfile';
import { awsSpec, newApp, REPO_ROOT, warningsOf } from './cdk-app';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789012';
const ECR_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/gpt2-openai-toolkit:1.2.3';
const KEYS_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:gpt2-keys-AbC123';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const ZONE = 'Z0123456789ABCDEFGHIJ';

let app: App;
let defaults: InferenceStack;
let tuned: InferenceStack;
let publicTls: InferenceStack;
let publicHttp: InferenceStack;
let defaultTemplate: Template;
let tunedTemplate: Template;
let publicTlsTemplate: Template;
let publicHttpTemplate: Template;

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

function logicalIdOf(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

/** The launch template's user data as the instance runs it (the Fn::Join of the Fn::Base64, tokens as placeholders). */
function userData(template: Template): string {
  const data = onlyResource(template, 'AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData.UserData['Fn::Base64'];
  if (typeof data === 'string') return data;
  return (data['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : '<token>')).join('');
}

beforeAll(() => {
  app = newApp();
  // The committed example, as `cdk deploy` without -c spec reads it.
  defaults = addDeploymentStack(app, loadDeploymentSpec(path.join(REPO_ROOT, 'deploy/aws-inference.json'))) as InferenceStack;
  tuned = addDeploymentStack(
    app,
    awsSpec({
      name: 'gpt2-tuned',
      model: { id: 'onnx-community/gpt2-ONNX', revision: COMMIT, dtype: 'fp16' },
      compute: { gpuType: 'g5.2xlarge', spot: true, onDemandBase: 1 },
      scaling: { minReplicas: 2, maxReplicas: 6, requestsPerReplicaPerMinute: 300, targetConcurrency: 12 },
      endpoint: { certificateArn: CERTIFICATE, domainName: 'gpt2.internal.example.com', playground: false },
      auth: { apiKeysSecret: KEYS_SECRET },
      network: { natGateways: 1 },
      alarmEmail: 'ops@example.com',
      drainSeconds: 90,
      maxRequestSeconds: 600,
      image: ECR_IMAGE,
    }),
  ) as InferenceStack;
  publicTls = addDeploymentStack(
    app,
    awsSpec({ name: 'gpt2-public', endpoint: { public: true, domainName: 'gpt2.example.com', hostedZoneId: ZONE } }),
    { modelCommit: COMMIT },
  ) as InferenceStack;
  publicHttp = addDeploymentStack(app, awsSpec({ name: 'gpt2-http', endpoint: { public: true, allowHttp: true } })) as InferenceStack;
  defaultTemplate = Template.fromStack(defaults);
  tunedTemplate = Template.fromStack(tuned);
  publicTlsTemplate = Template.fromStack(publicTls);
  publicHttpTemplate = Template.fromStack(publicHttp);
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

  it('runs the CUDA inference variant with the served model, its dtype, the batch size from targetConcurrency and the playground setting', () => {
    expect(environment(defaultTemplate)).toMatchObject({
      EXECUTION_PROVIDER: 'cuda',
      VARIANT: 'inference',
      SERVED_MODEL_NAME: 'gpt2',
      MODEL_ID: 'onnx-community/gpt2-ONNX',
      MODEL_DTYPE: 'fp32',
      MAX_BATCH_SIZE: '8',
      PLAYGROUND: 'true',
      PORT: '8080',
      HOST: '0.0.0.0',
    });
    expect(environment(tunedTemplate)).toMatchObject({ MODEL_DTYPE: 'fp16', MAX_BATCH_SIZE: '12', PLAYGROUND: 'false', MODEL_REVISION: COMMIT });
  });

  it('delivers the API keys from Secrets Manager as API_KEYS, never as plain environment', () => {
    for (const template of [defaultTemplate, tunedTemplate]) {
      expect(container(template).Secrets.map((secret: Json) => secret.Name)).toEqual(['API_KEYS']);
      for (const entry of container(template).Environment as Json[]) expect(entry.Name).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD/);
    }
    expect(container(tunedTemplate).Secrets[0].ValueFrom).toBe(KEYS_SECRET);
    tunedTemplate.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });

  it('generates a key when the spec names no secret, and says in its output how to read it', () => {
    const [secretId, secret] = Object.entries(defaultTemplate.findResources('AWS::SecretsManager::Secret'))[0]!;
    expect((secret as Json).Properties.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    expect((secret as Json).Properties.SecretString).toBeUndefined();
    expect(container(defaultTemplate).Secrets[0].ValueFrom).toEqual({ Ref: secretId });
    defaultTemplate.hasOutput('ApiKeysSecretArn', { Value: { Ref: secretId }, Description: Match.stringLikeRegexp('get-secret-value') });
    expect(READ_API_KEY_COMMAND).toBe('aws secretsmanager get-secret-value --secret-id <ApiKeysSecretArn> --query SecretString --output text');
    tunedTemplate.hasOutput('ApiKeysSecretArn', { Value: KEYS_SECRET });
  });

  it('drains for maxRequestSeconds: the deregistration delay, DRAIN_TIMEOUT_SECONDS and a stop timeout just above it', () => {
    expect(environment(defaultTemplate).DRAIN_TIMEOUT_SECONDS).toBe('300');
    expect(container(defaultTemplate).StopTimeout).toBe(305);
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }]),
    });
    // EC2 has no stop-timeout ceiling: a 10-minute stream is let finish.
    expect(environment(tunedTemplate).DRAIN_TIMEOUT_SECONDS).toBe('600');
    expect(container(tunedTemplate).StopTimeout).toBe(605);
    tunedTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '600' }]),
    });
  });

  it('warns that spot interruptions cut streams after two minutes whatever maxRequestSeconds says', () => {
    expect(warningsOf(tuned)).toContainEqual(expect.stringMatching(/a spot interruption ends the instance 120 s after its notice/));
    expect(warningsOf(defaults)).not.toContainEqual(expect.stringMatching(/spot interruption/));
  });

  it('keeps its idle connections open longer than the load balancer does', () => {
    for (const template of [defaultTemplate, tunedTemplate]) {
      const idle = onlyResource(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer').Properties.LoadBalancerAttributes.find(
        (attribute: Json) => attribute.Key === 'idle_timeout.timeout_seconds',
      ).Value;
      const keepAlive = Number(environment(template).KEEP_ALIVE_TIMEOUT_SECONDS);
      expect(Number(idle)).toBe(LOAD_BALANCER_IDLE_TIMEOUT.toSeconds());
      expect(keepAlive).toBe(keepAliveSecondsFor(LOAD_BALANCER_IDLE_TIMEOUT));
      expect(keepAlive).toBeGreaterThan(Number(idle));
    }
  });

  it('builds the gpu target of the Dockerfile with the model, its revision and dtype as build arguments unless the spec names an image', () => {
    const manifest = JSON.parse(readFileSync(path.join(app.outdir, 'gpt2-aws.assets.json'), 'utf8'));
    const images = Object.values(manifest.dockerImages) as Json[];
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({
      dockerBuildTarget: 'gpu',
      dockerBuildArgs: { MODEL_ID: 'onnx-community/gpt2-ONNX', MODEL_REVISION: 'main', MODEL_DTYPE: 'fp32' },
      platform: 'linux/amd64',
    });
    const pinned = JSON.parse(readFileSync(path.join(app.outdir, 'gpt2-public.assets.json'), 'utf8'));
    expect((Object.values(pinned.dockerImages)[0] as Json).source.dockerBuildArgs).toMatchObject({ MODEL_REVISION: COMMIT });
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

  it('outputs the model commit the image bakes: the resolved one, or the spec revision with a warning when unpinned', () => {
    publicTlsTemplate.hasOutput('ImageModelRevision', { Value: COMMIT });
    tunedTemplate.hasOutput('ImageModelRevision', { Value: COMMIT });
    defaultTemplate.hasOutput('ImageModelRevision', { Value: 'main' });
    expect(environment(publicTlsTemplate).MODEL_REVISION).toBe(COMMIT);
    expect(warningsOf(defaults)).toContainEqual(expect.stringMatching(/not pinned to a commit/));
    expect(warningsOf(publicTls)).not.toContainEqual(expect.stringMatching(/not pinned/));
  });

  it('labels both image targets with the model, the commit and the dtype from the build arguments the stack passes', () => {
    const { stages } = readDockerfile();
    for (const target of ['cpu', 'gpu']) {
      const instructions = stage(stages, target).instructions.map((instruction) => `${instruction.keyword} ${instruction.args}`);
      expect(instructions).toEqual(expect.arrayContaining(['ARG MODEL_ID=""', 'ARG MODEL_REVISION=main', 'ARG MODEL_DTYPE=fp32']));
      const label = instructions.find((instruction) => instruction.startsWith('LABEL '));
      expect(label).toBe(
        'LABEL gpt2-openai-toolkit.model.id="${MODEL_ID}" gpt2-openai-toolkit.model.revision="${MODEL_REVISION}" gpt2-openai-toolkit.model.dtype="${MODEL_DTYPE}" gpt2-openai-toolkit.model.file="${MODEL_FILE}"',
      );
    }
  });

  it('logs to CloudWatch with a retention', () => {
    defaultTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(container(defaultTemplate).LogConfiguration).toMatchObject({ LogDriver: 'awslogs' });
  });

  it('warns that the GPU memory check was skipped for a model of unknown size, and checks it once model.size says', () => {
    const unknown = addDeploymentStack(newApp(), awsSpec({ name: 'gpt2-custom', model: { id: 'acme/my-finetune' } }));
    expect(warningsOf(unknown)).toContainEqual(expect.stringMatching(/names no GPT-2 family member.*set model.size/));
    expect(warningsOf(defaults)).not.toContainEqual(expect.stringMatching(/names no GPT-2 family member/));
    expect(() => addDeploymentStack(newApp(), awsSpec({ name: 'gpt2-custom', model: { id: 'acme/my-finetune', size: 'gpt2-xl' }, scaling: { targetConcurrency: 16 } }))).toThrow(
      /model: gpt2-xl \(fp32\) needs/,
    );
  });
});

describe('metrics stay inside the task', () => {
  it('serves /metrics on METRICS_PORT, which no port mapping, target group, listener or security group reaches', () => {
    for (const template of [defaultTemplate, tunedTemplate, publicTlsTemplate]) {
      expect(environment(template).METRICS_PORT).toBe(String(METRICS_PORT));
      expect(container(template).PortMappings).toEqual([{ ContainerPort: CONTAINER_PORT, HostPort: 0, Protocol: 'tcp' }]);
      for (const group of Object.values(template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup')) as Json[]) {
        expect(group.Properties.Port).toBe(CONTAINER_PORT);
      }
      for (const listener of Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener')) as Json[]) {
        expect([80, 443]).toContain(listener.Properties.Port);
      }
      const json = JSON.stringify(template.toJSON());
      expect(json).not.toMatch(new RegExp(`"(FromPort|ToPort|Port|ContainerPort|HostPort)":"?${METRICS_PORT}\\b`));
    }
  });

  it('answers /metrics with a 404 at the load balancer, before any request reaches a task', () => {
    for (const template of [defaultTemplate, publicTlsTemplate]) {
      const servingListener = Object.entries(template.findResources('AWS::ElasticLoadBalancingV2::Listener')).find(
        ([, listener]) => (listener as Json).Properties.DefaultActions[0].Type === 'forward',
      )![0];
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
        ListenerArn: { Ref: servingListener },
        Priority: 1,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
        Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'application/json', MessageBody: BLOCKED_PATH_BODY } }],
      });
    }
    expect(JSON.parse(BLOCKED_PATH_BODY)).toEqual({ error: { message: 'Not found', type: 'invalid_request_error', param: null, code: 'not_found' } });
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

  it('turns on spot instance draining in the ECS agent config of a spot group only', () => {
    expect(userData(tunedTemplate)).toContain('echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config');
    expect(userData(defaultTemplate)).not.toContain('ECS_ENABLE_SPOT_INSTANCE_DRAINING');
    expect(userData(defaultTemplate)).toContain('echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config');
  });

  it('installs the CloudWatch agent with NVIDIA GPU metrics after the ECS agent settings, and lets it publish', () => {
    const script = userData(defaultTemplate);
    expect(script).toContain('dnf install -y amazon-cloudwatch-agent');
    expect(script).toContain(JSON.stringify(gpuAgentConfig()));
    expect(script).toMatch(/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:\/opt\/aws\/amazon-cloudwatch-agent\/etc\/gpu-metrics\.json/);
    expect(script.indexOf('ECS_CLUSTER=')).toBeLessThan(script.indexOf('dnf install'));
    expect(gpuAgentConfig()).toMatchObject({
      metrics: {
        aggregation_dimensions: [['AutoScalingGroupName']],
        metrics_collected: { nvidia_gpu: { measurement: expect.arrayContaining(['utilization_gpu', 'memory_used', 'memory_total']) } },
      },
    });
    defaultTemplate.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: Match.arrayWith([{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/CloudWatchAgentServerPolicy']] }]),
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

describe('deleting the stack (and rolling back a failed create)', () => {
  it('releases the GPU group with a custom resource the service depends on, and which depends on the group and the cluster', () => {
    const resourceId = logicalIdOf(defaultTemplate, 'Custom::CapacityRelease');
    const groupId = logicalIdOf(defaultTemplate, 'AWS::AutoScaling::AutoScalingGroup');
    const associationId = logicalIdOf(defaultTemplate, 'AWS::ECS::ClusterCapacityProviderAssociations');
    const release = defaultTemplate.findResources('Custom::CapacityRelease')[resourceId] as Json;
    expect(release.Properties.AutoScalingGroupName).toEqual({ Ref: groupId });
    expect(release.Properties.ServiceTimeout).toBe('300');
    expect(release.DependsOn).toEqual(expect.arrayContaining([associationId]));
    expect(onlyResource(defaultTemplate, 'AWS::ECS::Service').DependsOn).toContain(resourceId);
  });

  it('runs a Node handler allowed to describe groups and to change only the group carrying its tag', () => {
    defaultTemplate.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs24.x', Handler: 'index.handler', Timeout: 60 });
    const group = onlyResource(defaultTemplate, 'AWS::AutoScaling::AutoScalingGroup').Properties;
    const tag = (group.Tags as Json[]).find((candidate) => candidate.Key === 'gpt2-openai-toolkit:capacity-release')!;
    expect(tag.PropagateAtLaunch).toBe(false);
    defaultTemplate.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^GpuCapacityReleaseRole'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'autoscaling:DescribeAutoScalingGroups', Resource: '*' }),
          Match.objectLike({
            Action: ['autoscaling:SetInstanceProtection', 'autoscaling:UpdateAutoScalingGroup'],
            Resource: '*',
            Condition: { StringEquals: { 'autoscaling:ResourceTag/gpt2-openai-toolkit:capacity-release': tag.Value } },
          }),
        ]),
      },
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
    const associationId = logicalIdOf(defaultTemplate, 'AWS::ECS::ClusterCapacityProviderAssociations');
    expect(onlyResource(defaultTemplate, 'AWS::ECS::Service').DependsOn).toContain(associationId);
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

  it('publishes its running, waiting and in-flight requests per deployment as CloudWatch metrics', () => {
    expect(environment(defaultTemplate)).toMatchObject({
      CLOUDWATCH_EMF_NAMESPACE: 'gpt2-openai-toolkit',
      CLOUDWATCH_EMF_DIMENSIONS: 'Deployment=gpt2-aws',
      CLOUDWATCH_EMF_INTERVAL_SECONDS: '10',
    });
  });

  it('target-tracks requests in flight per task at scaling.targetConcurrency, with request count and CPU as further signals', () => {
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: 4 });
    tunedTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
    for (const [template, deployment, target] of [[defaultTemplate, 'gpt2-aws', 8], [tunedTemplate, 'gpt2-tuned', 12]] as const) {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          TargetValue: target,
          CustomizedMetricSpecification: {
            Namespace: 'gpt2-openai-toolkit',
            MetricName: 'RequestsInFlight',
            Dimensions: [{ Name: 'Deployment', Value: deployment }],
            Statistic: 'Average',
          },
        }),
      });
    }
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 600,
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
      }),
    });
    defaultTemplate.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 70,
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    defaultTemplate.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 3);
  });
});

describe('load balancer', () => {
  it('is internal by default, serving HTTP on 80 inside the VPC only', () => {
    defaultTemplate.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'forward' })],
    });
    defaultTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
    defaultTemplate.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Load balancer'),
      SecurityGroupIngress: [Match.objectLike({ CidrIp: '10.0.0.0/16', FromPort: 80 })],
    });
    expect(warningsOf(defaults)).not.toContainEqual(expect.stringMatching(/plain HTTP/));
  });

  it('serves HTTPS with a given certificate and redirects HTTP', () => {
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
    tunedTemplate.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    tunedTemplate.resourceCountIs('AWS::Route53::RecordSet', 0);
  });

  it('creates a DNS-validated certificate and the alias record for a domain in a hosted zone, when public', () => {
    publicTlsTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    const certificateId = logicalIdOf(publicTlsTemplate, 'AWS::CertificateManager::Certificate');
    publicTlsTemplate.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'gpt2.example.com',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'gpt2.example.com', HostedZoneId: ZONE }],
    });
    publicTlsTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Certificates: [{ CertificateArn: { Ref: certificateId } }] });
    publicTlsTemplate.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'gpt2.example.com.',
      Type: 'A',
      HostedZoneId: ZONE,
      AliasTarget: Match.objectLike({ DNSName: Match.anyValue() }),
    });
    publicTlsTemplate.hasOutput('EndpointUrl', { Value: 'https://gpt2.example.com' });
    expect(warningsOf(publicTls)).not.toContainEqual(expect.stringMatching(/plain HTTP/));
  });

  it('serves plain HTTP publicly only when allowHttp says so, and warns at synth', () => {
    publicHttpTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    publicHttpTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    expect(warningsOf(publicHttp)).toContainEqual(expect.stringMatching(/This public endpoint serves plain HTTP/));
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
  it('alarms on 5xx rate, unhealthy and missing targets, p99 latency, queue depth and GPU memory, to the alarm topic', () => {
    const alarms = Object.values(defaultTemplate.findResources('AWS::CloudWatch::Alarm')) as Json[];
    expect(alarms).toHaveLength(6);
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
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'gpt2-openai-toolkit',
      MetricName: 'RequestsWaiting',
      Dimensions: [{ Name: 'Deployment', Value: 'gpt2-aws' }],
      Threshold: 8,
      EvaluationPeriods: 10,
    });
    const groupId = logicalIdOf(defaultTemplate, 'AWS::AutoScaling::AutoScalingGroup');
    defaultTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 90,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: '100 * used / total' }),
        Match.objectLike({
          Id: 'used',
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'CWAgent', MetricName: 'nvidia_smi_memory_used', Dimensions: [{ Name: 'AutoScalingGroupName', Value: { Ref: groupId } }] },
            Stat: 'Maximum',
          }),
        }),
      ]),
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

  it('has a dashboard with requests per task and GPU utilization and memory', () => {
    const dashboard = onlyResource(defaultTemplate, 'AWS::CloudWatch::Dashboard').Properties;
    expect(dashboard.DashboardName).toBe('gpt2-aws-inference');
    const body = JSON.stringify(dashboard.DashboardBody);
    for (const text of ['GPU utilization (%)', 'nvidia_smi_utilization_gpu', 'GPU memory used (%)', 'RequestsRunning', 'RequestsWaiting']) {
      expect(body).toContain(text);
    }
  });

  it('outputs EndpointUrl: the load balancer over HTTP, or the domain over HTTPS', () => {
    defaultTemplate.hasOutput('EndpointUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointLoadBalancer'), 'DNSName'] }]] },
    });
    tunedTemplate.hasOutput('EndpointUrl', { Value: 'https://gpt2.internal.example.com' });
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding, internal or public, HTTP or HTTPS, on-demand or spot, generated or given keys', () => {
    for (const stack of [defaults, tuned, publicTls, publicHttp]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
      expect(report.success).toBe(true);
    }
  });
});
