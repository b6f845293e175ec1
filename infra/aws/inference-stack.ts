// The inference variant on AWS: GPT-2 on GPU instances of an ECS cluster, one GPU per task, behind an ALB,
// scaled on requests and CPU, with alarms, a dashboard and the `EndpointUrl` output.
import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';
import { DeploymentSpec } from '../spec';
import { AlarmTopic } from './constructs/alarm-topic';
import { GpuCapacity } from './constructs/gpu-capacity';
import { ServiceEndpoint } from './constructs/service-endpoint';
import { ServiceImage } from './constructs/service-image';
import { ServiceLogs } from './constructs/service-logs';
import { ServiceMonitoring } from './constructs/service-monitoring';
import { ServiceNetwork } from './constructs/service-network';
import { ServiceScaling } from './constructs/service-scaling';
import { taskSizeFor } from './gpu-sizing';
import { CONTAINER_PORT, healthCommand, stopTimeoutFor } from './service-container';

/** Time from task start to the first 200 on /ready: model fetch (when not baked in) and CUDA session setup. */
export const INFERENCE_HEALTH_CHECK_GRACE = Duration.minutes(5);

export interface InferenceStackProps extends StackProps {
  /** A validated spec with `variant: 'inference'` and `target: 'aws'`. */
  readonly spec: DeploymentSpec;
  /**
   * Directory holding the Dockerfile.
   * @default - the repository root
   */
  readonly buildContext?: string;
}

export class InferenceStack extends Stack {
  readonly network: ServiceNetwork;
  readonly cluster: ecs.Cluster;
  readonly capacity: GpuCapacity;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly service: ecs.Ec2Service;
  readonly endpoint: ServiceEndpoint;
  readonly alarmTopic: AlarmTopic;
  readonly monitoring: ServiceMonitoring;

  constructor(scope: Construct, id: string, props: InferenceStackProps) {
    super(scope, id, props);
    const { spec } = props;

    this.network = new ServiceNetwork(this, 'Network', { natGateways: spec.network.natGateways });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.capacity = new GpuCapacity(this, 'GpuCapacity', {
      cluster: this.cluster,
      vpc: this.network.vpc,
      subnets: this.network.workloadSubnets,
      associatePublicIp: this.network.workloadsNeedPublicIp,
      instanceType: spec.compute.gpuType,
      // One extra instance lets a rolling deployment start a new task before stopping an old one at full scale.
      maxInstances: spec.scaling.maxReplicas + 1,
      spot: spec.compute.spot ? { onDemandBase: spec.compute.onDemandBase } : undefined,
    });

    const logs = new ServiceLogs(this, 'Logs');
    const image = new ServiceImage(this, 'Image', {
      image: spec.image,
      dockerTarget: 'gpu',
      // Baked in, the model needs no hub access at start and a new replica is ready sooner.
      buildArgs: { MODEL_ID: spec.model.id },
      buildContext: props.buildContext,
    });
    const size = taskSizeFor(spec.compute.gpuType);
    // Bridge mode: the task shares the instance's public IP for outbound traffic when there is no NAT
    // (awsvpc tasks on EC2 never get a public IP); the ALB reaches it on a dynamic host port.
    this.taskDefinition = new ecs.Ec2TaskDefinition(this, 'Task', { networkMode: ecs.NetworkMode.BRIDGE });
    this.taskDefinition.addContainer('inference', {
      image: image.containerImage,
      gpuCount: 1,
      cpu: size.cpu,
      memoryLimitMiB: size.memoryLimitMiB,
      portMappings: [{ containerPort: CONTAINER_PORT, hostPort: 0 }],
      environment: {
        VARIANT: 'inference',
        EXECUTION_PROVIDER: 'cuda',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
        MODEL_ID: spec.model.id,
        MODEL_REVISION: spec.model.revision,
        SERVED_MODEL_NAME: spec.model.servedName,
        DRAIN_TIMEOUT_SECONDS: String(spec.drainSeconds),
      },
      logging: logs.logDriver('inference'),
      stopTimeout: stopTimeoutFor(spec.drainSeconds),
      healthCheck: {
        command: healthCommand(),
        // /health answers as soon as the HTTP server listens, before the model is loaded.
        startPeriod: Duration.seconds(120),
        interval: Duration.seconds(30),
        retries: 3,
        timeout: Duration.seconds(5),
      },
    });

    this.service = new ecs.Ec2Service(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      capacityProviderStrategies: [{ capacityProvider: this.capacity.capacityProvider.capacityProviderName, weight: 1 }],
      healthCheckGracePeriod: INFERENCE_HEALTH_CHECK_GRACE,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });
    // CloudFormation may otherwise create the service before the capacity provider is associated with
    // the cluster, and ECS rejects a strategy naming a provider the cluster does not have yet.
    this.service.node.addDependency(this.cluster);

    this.endpoint = new ServiceEndpoint(this, 'Endpoint', {
      vpc: this.network.vpc,
      internetFacing: spec.endpoint.public,
      internalClientCidr: this.network.cidr,
      certificateArn: spec.endpoint.certificateArn,
      domainName: spec.endpoint.domainName,
    });
    // Bridge-mode targets bring no security group of their own, so the instances must admit the ALB on the
    // dynamic host port range (Docker's ephemeral ports, 32768-65535 covering every AMI's setting).
    this.capacity.securityGroup.connections.allowFrom(
      this.endpoint.loadBalancer,
      ec2.Port.tcpRange(32768, 65535),
      'Load balancer to inference tasks on dynamic host ports',
    );
    const targetGroup = this.endpoint.addServiceTarget('Inference', {
      target: this.service.loadBalancerTarget({ containerName: 'inference', containerPort: CONTAINER_PORT }),
      port: CONTAINER_PORT,
      deregistrationDelay: Duration.seconds(spec.drainSeconds),
    });

    new ServiceScaling(this, 'Scaling', {
      service: this.service,
      targetGroup,
      minReplicas: spec.scaling.minReplicas,
      maxReplicas: spec.scaling.maxReplicas,
      requestsPerReplicaPerMinute: spec.scaling.requestsPerReplicaPerMinute,
      scaleOutCooldown: Duration.seconds(120),
    });
    this.alarmTopic = new AlarmTopic(this, 'Alarms', { email: spec.alarmEmail });
    this.monitoring = new ServiceMonitoring(this, 'Monitoring', {
      loadBalancer: this.endpoint.loadBalancer,
      targetGroup,
      service: this.service,
      alarmTopic: this.alarmTopic.topic,
      dashboardName: `${spec.name}-inference`,
    });

    new CfnOutput(this, 'EndpointUrl', { value: this.endpoint.url, description: 'OpenAI-compatible base URL (append /v1)' });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.endpoint.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });
  }
}
