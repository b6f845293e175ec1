// The inference variant on AWS: GPT-2 on GPU instances of an ECS cluster, one GPU per task, behind an ALB (private
// unless the spec says public; HTTPS with a certificate), bearer keys from Secrets Manager, scaled on requests in
// flight per task, with GPU and queue alarms, a dashboard and the outputs `npm run deploy` reads.
import { Annotations, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
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
import { drainPlanFor, SPOT_INTERRUPTION_NOTICE_SECONDS } from './draining';
import { taskSizeFor } from './gpu-sizing';
import { modelFitFor } from './model-fit';
import { COMMIT_ID } from './model-revision';
import { importSecret } from './secret-reference';
import { CONTAINER_PORT, healthCommand, keepAliveSecondsFor, maxBatchSizeFor, METRICS_PORT } from './service-container';
import { servingMetric, servingMetricsEnvironment } from './serving-metrics';

/** Time from task start to the first 200 on /ready: model fetch (when not baked in) and CUDA session setup. */
export const INFERENCE_HEALTH_CHECK_GRACE = Duration.minutes(5);

/** How to read a generated key, for the ApiKeysSecretArn output. */
export const READ_API_KEY_COMMAND = 'aws secretsmanager get-secret-value --secret-id <ApiKeysSecretArn> --query SecretString --output text';

export interface InferenceStackProps extends StackProps {
  /** A validated spec with `variant: 'inference'` and `target: 'aws'`. */
  readonly spec: DeploymentSpec;
  /**
   * The commit `spec.model.revision` resolved to (model-revision.ts): baked into the image and loaded by the service.
   * @default - the spec's revision as written (unpinned unless it is a commit id)
   */
  readonly modelCommit?: string;
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
  /** Where the inference API keys live (API_KEYS). */
  readonly apiKeysSecret: secretsmanager.ISecret;
  /** True when the stack generated the key (no `auth.apiKeysSecret` in the spec). */
  readonly generatedApiKey: boolean;
  readonly alarmTopic: AlarmTopic;
  readonly monitoring: ServiceMonitoring;

  constructor(scope: Construct, id: string, props: InferenceStackProps) {
    super(scope, id, props);
    const { spec } = props;
    const modelRevision = props.modelCommit ?? spec.model.revision;
    if (!COMMIT_ID.test(modelRevision)) {
      Annotations.of(this).addWarning(
        `model.revision "${modelRevision}" is not pinned to a commit: each image build and each task start may get different weights`,
      );
    }
    if (modelFitFor(spec) === undefined) {
      Annotations.of(this).addWarning(
        `model.id "${spec.model.id}" names no GPT-2 family member, so whether it fits ${spec.compute.gpuType}'s GPU was not checked; set model.size`,
      );
    }
    const drain = drainPlanFor(spec, 'ec2');
    if (spec.compute.spot && drain.deregistrationDelay.toSeconds() > SPOT_INTERRUPTION_NOTICE_SECONDS) {
      Annotations.of(this).addWarning(
        `compute.spot: a spot interruption ends the instance ${SPOT_INTERRUPTION_NOTICE_SECONDS} s after its notice, so requests longer than ` +
          `about that are cut there, whatever maxRequestSeconds (${spec.maxRequestSeconds}) says; compute.onDemandBase instances are not interrupted`,
      );
    }

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
    this.endpoint = new ServiceEndpoint(this, 'Endpoint', {
      vpc: this.network.vpc,
      internetFacing: spec.endpoint.public,
      internalClientCidr: this.network.cidr,
      certificateArn: spec.endpoint.certificateArn,
      domainName: spec.endpoint.domainName,
      hostedZoneId: spec.endpoint.hostedZoneId,
    });

    this.generatedApiKey = spec.auth.apiKeysSecret === undefined;
    this.apiKeysSecret =
      spec.auth.apiKeysSecret === undefined
        ? new secretsmanager.Secret(this, 'ApiKeys', {
            description: `${this.stackName}: API_KEYS of the inference endpoint (comma- or newline-separated bearer keys). Generated: add or replace keys here, then force a new deployment.`,
            generateSecretString: { passwordLength: 48, excludePunctuation: true },
          })
        : importSecret(this, 'ApiKeys', spec.auth.apiKeysSecret, 'auth.apiKeysSecret');

    const logs = new ServiceLogs(this, 'Logs');
    const image = new ServiceImage(this, 'Image', {
      image: spec.image,
      dockerTarget: 'gpu',
      // Baked in, the pinned weights need no hub access at start and a new replica is ready sooner.
      buildArgs: {
        MODEL_ID: spec.model.id,
        MODEL_REVISION: modelRevision,
        MODEL_DTYPE: spec.model.dtype,
        ...(spec.model.file === undefined ? {} : { MODEL_FILE: spec.model.file }),
      },
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
      // Only the API port is mapped; METRICS_PORT stays inside the container.
      portMappings: [{ containerPort: CONTAINER_PORT, hostPort: 0 }],
      environment: {
        VARIANT: 'inference',
        EXECUTION_PROVIDER: 'cuda',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
        METRICS_PORT: String(METRICS_PORT),
        MODEL_ID: spec.model.id,
        MODEL_REVISION: modelRevision,
        MODEL_DTYPE: spec.model.dtype,
        ...(spec.model.file === undefined ? {} : { MODEL_FILE: spec.model.file }),
        SERVED_MODEL_NAME: spec.model.servedName,
        MAX_BATCH_SIZE: String(maxBatchSizeFor(spec)),
        DRAIN_TIMEOUT_SECONDS: String(drain.drainTimeoutSeconds),
        KEEP_ALIVE_TIMEOUT_SECONDS: String(keepAliveSecondsFor(this.endpoint.idleTimeout)),
        PLAYGROUND: String(spec.endpoint.playground),
        ...servingMetricsEnvironment(this.stackName),
      },
      // Injected by the ECS agent at start: the keys never appear in the template or the task definition.
      secrets: { API_KEYS: ecs.Secret.fromSecretsManager(this.apiKeysSecret) },
      logging: logs.logDriver('inference'),
      stopTimeout: drain.stopTimeout,
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
    // Deleted before the group's release, which runs before the group is deleted (stack deletion and rollback).
    this.service.node.addDependency(this.capacity.release);

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
      deregistrationDelay: drain.deregistrationDelay,
    });

    const inFlight = servingMetric(this.stackName, 'RequestsInFlight');
    new ServiceScaling(this, 'Scaling', {
      service: this.service,
      targetGroup,
      minReplicas: spec.scaling.minReplicas,
      maxReplicas: spec.scaling.maxReplicas,
      requestsPerReplicaPerMinute: spec.scaling.requestsPerReplicaPerMinute,
      inFlight: { metric: inFlight, targetPerTask: spec.scaling.targetConcurrency },
      scaleOutCooldown: Duration.seconds(120),
    });
    this.alarmTopic = new AlarmTopic(this, 'Alarms', { email: spec.alarmEmail });
    this.monitoring = new ServiceMonitoring(this, 'Monitoring', {
      loadBalancer: this.endpoint.loadBalancer,
      targetGroup,
      service: this.service,
      alarmTopic: this.alarmTopic.topic,
      dashboardName: `${this.stackName}-inference`,
      serving: {
        running: servingMetric(this.stackName, 'RequestsRunning'),
        waiting: servingMetric(this.stackName, 'RequestsWaiting'),
        // A whole extra batch waiting on every task, for 10 minutes.
        waitingAlarmThreshold: spec.scaling.targetConcurrency,
      },
      gpu: { utilization: this.capacity.metricGpuUtilization(), memoryUsedPercent: this.capacity.metricGpuMemoryUsedPercent() },
    });

    new CfnOutput(this, 'EndpointUrl', { value: this.endpoint.url, description: 'OpenAI-compatible base URL (append /v1)' });
    new CfnOutput(this, 'ApiKeysSecretArn', {
      value: this.apiKeysSecret.secretArn,
      description: `Secrets Manager secret holding the API keys (API_KEYS). Read them: ${READ_API_KEY_COMMAND}`,
    });
    new CfnOutput(this, 'ImageModelRevision', { value: modelRevision, description: `Model commit of ${spec.model.id} the image bakes and the service loads` });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.endpoint.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });
  }
}
