// The proxy variant on AWS: the OpenAI proxy on Fargate behind an ALB, its upstream key and client keys
// injected from Secrets Manager, scaled on CPU and requests, with the same alarms and `EndpointUrl` output.
import { CfnOutput, Duration, SecretValue, Stack, StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DeploymentSpec, SpecError } from '../spec';
import { AlarmTopic } from './constructs/alarm-topic';
import { ServiceEndpoint } from './constructs/service-endpoint';
import { ServiceImage } from './constructs/service-image';
import { ServiceLogs } from './constructs/service-logs';
import { ServiceMonitoring } from './constructs/service-monitoring';
import { ServiceNetwork } from './constructs/service-network';
import { ServiceScaling } from './constructs/service-scaling';
import { CONTAINER_PORT, healthCommand, stopTimeoutFor } from './service-container';

/**
 * Until the operator stores real keys, PROXY_KEYS holds one entry whose digest no key hashes to, so the proxy
 * starts but admits nobody (fail closed). A digest is not a secret, so it may appear in the template.
 */
export const PLACEHOLDER_PROXY_KEYS = `replace-me:${'0'.repeat(64)}`;

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)$/;
/** Secrets Manager appends `-` and six random characters to a secret's name in its complete ARN. */
const COMPLETE_SECRET_ARN = /-[A-Za-z0-9]{6}$/;

export interface ProxyStackProps extends StackProps {
  /** A validated spec with `variant: 'proxy'` and `target: 'aws'`. */
  readonly spec: DeploymentSpec;
  /**
   * Directory holding the Dockerfile.
   * @default - the repository root
   */
  readonly buildContext?: string;
}

export class ProxyStack extends Stack {
  readonly network: ServiceNetwork;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly service: ecs.FargateService;
  readonly endpoint: ServiceEndpoint;
  readonly openaiKeySecret: secretsmanager.ISecret;
  readonly clientKeysSecret: secretsmanager.ISecret;
  readonly alarmTopic: AlarmTopic;
  readonly monitoring: ServiceMonitoring;

  constructor(scope: Construct, id: string, props: ProxyStackProps) {
    super(scope, id, props);
    const { spec } = props;

    this.openaiKeySecret = spec.proxy.openaiKeySecret === undefined
      ? new secretsmanager.Secret(this, 'OpenAiKey', {
          description: `${spec.name}: the OpenAI API key the proxy sends upstream. Generated as a placeholder: put the real key here.`,
        })
      : importSecret(this, 'OpenAiKey', spec.proxy.openaiKeySecret, 'proxy.openaiKeySecret');
    this.clientKeysSecret = spec.proxy.clientKeysSecret === undefined
      ? new secretsmanager.Secret(this, 'ClientKeys', {
          description: `${spec.name}: PROXY_KEYS, comma-separated name:sha256 of the client keys (npm run proxy:hash-key -- KEY).`,
          secretStringValue: SecretValue.unsafePlainText(PLACEHOLDER_PROXY_KEYS),
        })
      : importSecret(this, 'ClientKeys', spec.proxy.clientKeysSecret, 'proxy.clientKeysSecret');

    this.network = new ServiceNetwork(this, 'Network', { natGateways: spec.network.natGateways });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const logs = new ServiceLogs(this, 'Logs');
    const image = new ServiceImage(this, 'Image', { image: spec.image, dockerTarget: 'cpu', buildContext: props.buildContext });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addContainer('proxy', {
      image: image.containerImage,
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment: {
        VARIANT: 'proxy',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
        UPSTREAM_BASE_URL: spec.proxy.upstreamBaseUrl,
        DRAIN_TIMEOUT_SECONDS: String(spec.drainSeconds),
      },
      // Injected by the ECS agent at start: the values never appear in the template or the task definition.
      secrets: {
        OPENAI_API_KEY: ecs.Secret.fromSecretsManager(this.openaiKeySecret),
        PROXY_KEYS: ecs.Secret.fromSecretsManager(this.clientKeysSecret),
      },
      logging: logs.logDriver('proxy'),
      stopTimeout: stopTimeoutFor(spec.drainSeconds),
      healthCheck: {
        command: healthCommand(),
        startPeriod: Duration.seconds(30),
        interval: Duration.seconds(30),
        retries: 3,
        timeout: Duration.seconds(5),
      },
    });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: this.network.workloadSubnets,
      assignPublicIp: this.network.workloadsNeedPublicIp,
      healthCheckGracePeriod: Duration.seconds(60),
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });

    this.endpoint = new ServiceEndpoint(this, 'Endpoint', {
      vpc: this.network.vpc,
      internetFacing: spec.endpoint.public,
      internalClientCidr: this.network.cidr,
      certificateArn: spec.endpoint.certificateArn,
      domainName: spec.endpoint.domainName,
    });
    const targetGroup = this.endpoint.addServiceTarget('Proxy', {
      target: this.service.loadBalancerTarget({ containerName: 'proxy', containerPort: CONTAINER_PORT }),
      port: CONTAINER_PORT,
      deregistrationDelay: Duration.seconds(spec.drainSeconds),
    });

    new ServiceScaling(this, 'Scaling', {
      service: this.service,
      targetGroup,
      minReplicas: spec.scaling.minReplicas,
      maxReplicas: spec.scaling.maxReplicas,
      requestsPerReplicaPerMinute: spec.scaling.requestsPerReplicaPerMinute,
      cpuTargetPercent: 60,
    });
    this.alarmTopic = new AlarmTopic(this, 'Alarms', { email: spec.alarmEmail });
    this.monitoring = new ServiceMonitoring(this, 'Monitoring', {
      loadBalancer: this.endpoint.loadBalancer,
      targetGroup,
      service: this.service,
      alarmTopic: this.alarmTopic.topic,
      dashboardName: `${spec.name}-proxy`,
      // Time to the upstream's response headers; a long non-streamed completion upstream can take a minute.
      p99Latency: Duration.seconds(60),
    });

    new CfnOutput(this, 'EndpointUrl', { value: this.endpoint.url, description: 'OpenAI-compatible base URL (append /v1)' });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.endpoint.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });
    new CfnOutput(this, 'OpenAiKeySecretArn', { value: this.openaiKeySecret.secretArn });
    new CfnOutput(this, 'ClientKeysSecretArn', { value: this.clientKeysSecret.secretArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });
  }
}

function importSecret(scope: Construct, id: string, arn: string, field: string): secretsmanager.ISecret {
  const name = SECRET_ARN.exec(arn)?.[1];
  if (name === undefined) {
    throw new SpecError(`${field}: ${arn} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)`);
  }
  return COMPLETE_SECRET_ARN.test(name)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, arn)
    : secretsmanager.Secret.fromSecretPartialArn(scope, id, arn);
}
