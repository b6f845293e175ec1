// The proxy variant on AWS: the OpenAI proxy on Fargate behind an ALB (private unless the spec says public), its
// upstream key, client keys and PROXY_CONFIG_FILE from Secrets Manager, its limits shared by every replica in
// ElastiCache Serverless for Valkey, scaled on CPU and requests, with the same alarms and `EndpointUrl` output.
import { createHash } from 'node:crypto';
import { CfnOutput, Duration, SecretValue, Stack, StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DeploymentSpec } from '../spec';
import { AlarmTopic } from './constructs/alarm-topic';
import { SecretFile } from './constructs/secret-file';
import { ServiceEndpoint } from './constructs/service-endpoint';
import { ServiceImage } from './constructs/service-image';
import { ServiceLogs } from './constructs/service-logs';
import { ServiceMonitoring } from './constructs/service-monitoring';
import { ServiceNetwork } from './constructs/service-network';
import { ServiceScaling } from './constructs/service-scaling';
import { SharedStateCache } from './constructs/shared-state-cache';
import { drainPlanFor } from './draining';
import { readProxyConfigFile } from './proxy-config-file';
import { importSecret } from './secret-reference';
import { CONTAINER_PORT, healthCommand, keepAliveSecondsFor, METRICS_PORT } from './service-container';

/**
 * Until the operator stores real keys, PROXY_KEYS holds one entry whose digest no key hashes to, so the proxy
 * starts but admits nobody (fail closed). A digest is not a secret, so it may appear in the template.
 */
export const PLACEHOLDER_PROXY_KEYS = `replace-me:${'0'.repeat(64)}`;

/** Where the proxy reads PROXY_CONFIG_FILE inside its container. */
export const PROXY_CONFIG_DIRECTORY = '/run/proxy-config';

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
  /** The secret holding PROXY_CONFIG_FILE's JSON, when the spec has `proxy.config`. */
  readonly configSecret?: secretsmanager.ISecret;
  /** The Valkey cache the replicas share their limits in, when `proxy.sharedState` is `managed`. */
  readonly sharedState?: SharedStateCache;
  readonly alarmTopic: AlarmTopic;
  readonly monitoring: ServiceMonitoring;

  constructor(scope: Construct, id: string, props: ProxyStackProps) {
    super(scope, id, props);
    const { spec } = props;

    this.openaiKeySecret = spec.proxy.openaiKeySecret === undefined
      ? new secretsmanager.Secret(this, 'OpenAiKey', {
          description: `${this.stackName}: the OpenAI API key the proxy sends upstream. Generated as a placeholder: put the real key here.`,
        })
      : importSecret(this, 'OpenAiKey', spec.proxy.openaiKeySecret, 'proxy.openaiKeySecret');
    this.clientKeysSecret = spec.proxy.clientKeysSecret === undefined
      ? new secretsmanager.Secret(this, 'ClientKeys', {
          description: `${this.stackName}: PROXY_KEYS, comma-separated name:sha256 of the client keys (npm run proxy:hash-key -- KEY).`,
          secretStringValue: SecretValue.unsafePlainText(PLACEHOLDER_PROXY_KEYS),
        })
      : importSecret(this, 'ClientKeys', spec.proxy.clientKeysSecret, 'proxy.clientKeysSecret');

    const config = spec.proxy.config;
    let configDigest: string | undefined;
    if (config !== undefined && 'file' in config) {
      const content = readProxyConfigFile(config.file);
      this.configSecret = new secretsmanager.Secret(this, 'ProxyConfig', {
        description: `${this.stackName}: PROXY_CONFIG_FILE of the proxy, from ${config.file} (client key digests, limits, models)`,
        secretStringValue: SecretValue.unsafePlainText(content),
      });
      configDigest = createHash('sha256').update(content).digest('hex');
    } else if (config !== undefined) {
      this.configSecret = importSecret(this, 'ProxyConfig', config.secret, 'proxy.config.secret');
    }

    const managedState = spec.proxy.sharedState === 'managed';
    this.network = new ServiceNetwork(this, 'Network', { natGateways: spec.network.natGateways, dataSubnets: managedState });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.endpoint = new ServiceEndpoint(this, 'Endpoint', {
      vpc: this.network.vpc,
      internetFacing: spec.endpoint.public,
      internalClientCidr: this.network.cidr,
      certificateArn: spec.endpoint.certificateArn,
      domainName: spec.endpoint.domainName,
      hostedZoneId: spec.endpoint.hostedZoneId,
    });
    if (managedState) {
      this.sharedState = new SharedStateCache(this, 'SharedState', {
        vpc: this.network.vpc,
        subnets: this.network.dataSubnets!,
        name: this.stackName,
      });
    }

    const drain = drainPlanFor(spec, 'fargate');
    const logs = new ServiceLogs(this, 'Logs');
    const image = new ServiceImage(this, 'Image', { image: spec.image, dockerTarget: 'cpu', buildContext: props.buildContext });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const configFile =
      this.configSecret === undefined
        ? undefined
        : new SecretFile(this, 'ProxyConfigFile', {
            taskDefinition: this.taskDefinition,
            image: image.containerImage,
            secret: this.configSecret,
            directory: PROXY_CONFIG_DIRECTORY,
            fileName: 'proxy.json',
            logging: logs.logDriver('proxy-config'),
          });
    const proxy = this.taskDefinition.addContainer('proxy', {
      image: image.containerImage,
      // Only the API port is mapped; METRICS_PORT stays inside the task.
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment: {
        VARIANT: 'proxy',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
        METRICS_PORT: String(METRICS_PORT),
        UPSTREAM_BASE_URL: spec.proxy.upstreamBaseUrl,
        DRAIN_TIMEOUT_SECONDS: String(drain.drainTimeoutSeconds),
        KEEP_ALIVE_TIMEOUT_SECONDS: String(keepAliveSecondsFor(this.endpoint.idleTimeout)),
        PLAYGROUND: String(spec.endpoint.playground),
        // Deployments may briefly run up to twice this; the proxy warns when it is above 1 without REDIS_URL.
        PROXY_REPLICAS: String(spec.scaling.maxReplicas),
        ...(configFile === undefined ? {} : { PROXY_CONFIG_FILE: configFile.path }),
        // A changed config file changes the task definition, so the deployment that follows loads it.
        ...(configDigest === undefined ? {} : { PROXY_CONFIG_SHA256: configDigest }),
      },
      // Injected by the ECS agent at start: the values never appear in the template or the task definition.
      secrets: {
        OPENAI_API_KEY: ecs.Secret.fromSecretsManager(this.openaiKeySecret),
        PROXY_KEYS: ecs.Secret.fromSecretsManager(this.clientKeysSecret),
        ...(this.sharedState === undefined ? {} : { REDIS_URL: ecs.Secret.fromSecretsManager(this.sharedState.urlSecret) }),
      },
      logging: logs.logDriver('proxy'),
      stopTimeout: drain.stopTimeout,
      healthCheck: {
        command: healthCommand(),
        startPeriod: Duration.seconds(30),
        interval: Duration.seconds(30),
        retries: 3,
        timeout: Duration.seconds(5),
      },
    });
    configFile?.mountInto(proxy);

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
    this.sharedState?.allowFrom(this.service, 'Proxy tasks to the shared-state cache');

    const targetGroup = this.endpoint.addServiceTarget('Proxy', {
      target: this.service.loadBalancerTarget({ containerName: 'proxy', containerPort: CONTAINER_PORT }),
      port: CONTAINER_PORT,
      deregistrationDelay: drain.deregistrationDelay,
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
      dashboardName: `${this.stackName}-proxy`,
      // Time to the upstream's response headers; a long non-streamed completion upstream can take a minute.
      p99Latency: Duration.seconds(60),
    });

    new CfnOutput(this, 'EndpointUrl', { value: this.endpoint.url, description: 'OpenAI-compatible base URL (append /v1)' });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.endpoint.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName });
    new CfnOutput(this, 'OpenAiKeySecretArn', { value: this.openaiKeySecret.secretArn });
    new CfnOutput(this, 'ClientKeysSecretArn', { value: this.clientKeysSecret.secretArn });
    if (this.configSecret !== undefined) {
      new CfnOutput(this, 'ProxyConfigSecretArn', {
        value: this.configSecret.secretArn,
        description: 'PROXY_CONFIG_FILE of the proxy; a new value takes effect with the next deployment (aws ecs update-service --force-new-deployment)',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });
  }
}

