// EC2 GPU capacity for an ECS cluster: a launch template on the ECS GPU-optimized AMI (IMDSv2 only, encrypted
// root volume, the CloudWatch agent publishing GPU utilization and memory), an Auto Scaling group (on-demand, or
// spot over an on-demand base, drained on interruption), a managed capacity provider, and its release on deletion.
import { Duration } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { spotInstanceTypes } from '../gpu-sizing';
import { CapacityRelease } from './capacity-release';

/** Where the CloudWatch agent publishes the GPU metrics (its default namespace). */
export const GPU_METRICS_NAMESPACE = 'CWAgent';

/**
 * The agent's `nvidia_gpu` measurements the dashboard and alarms read; CloudWatch names each `nvidia_smi_<name>`
 * (memory in MiB). Each is a custom metric per instance plus one per group, billed per metric-month: no more.
 */
const GPU_MEASUREMENTS = ['utilization_gpu', 'memory_used', 'memory_total'];

const AGENT_CONFIG_PATH = '/opt/aws/amazon-cloudwatch-agent/etc/gpu-metrics.json';

/**
 * The CloudWatch agent's configuration: NVIDIA GPU metrics each minute, also aggregated per Auto Scaling group so a
 * dashboard and an alarm can name the group without knowing its instances.
 */
export function gpuAgentConfig(): Record<string, unknown> {
  return {
    metrics: {
      namespace: GPU_METRICS_NAMESPACE,
      append_dimensions: { AutoScalingGroupName: '${aws:AutoScalingGroupName}' },
      aggregation_dimensions: [['AutoScalingGroupName']],
      metrics_collected: { nvidia_gpu: { measurement: GPU_MEASUREMENTS, metrics_collection_interval: 60 } },
    },
  };
}

export interface GpuCapacityProps {
  readonly cluster: ecs.Cluster;
  readonly vpc: ec2.IVpc;
  /** Where instances launch. */
  readonly subnets: ec2.SubnetSelection;
  /** Whether instances need a public IP (public subnets without NAT). */
  readonly associatePublicIp: boolean;
  /** A single-GPU instance type, e.g. `g4dn.xlarge`. */
  readonly instanceType: string;
  /** Instances the group may run: one task each, plus room for a rolling deployment. */
  readonly maxInstances: number;
  /**
   * Run spot instances above `spot.onDemandBase` on-demand ones, over the same size in every GPU family.
   * @default - on-demand only
   */
  readonly spot?: { readonly onDemandBase: number };
  /**
   * Root volume (gp3, encrypted): the GPU AMI, the image (CUDA runtime, onnxruntime, model) and its layers unpacked.
   * @default 100
   */
  readonly rootVolumeGiB?: number;
}

export class GpuCapacity extends Construct {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly capacityProvider: ecs.AsgCapacityProvider;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly securityGroup: ec2.SecurityGroup;
  readonly instanceRole: iam.Role;
  /** True when the group mixes spot instances over an on-demand base. */
  readonly usesSpot: boolean;
  /** Releases the group on stack deletion; whatever runs on the group must depend on it. */
  readonly release: CapacityRelease;

  constructor(scope: Construct, id: string, props: GpuCapacityProps) {
    super(scope, id);
    this.usesSpot = props.spot !== undefined;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'GPU instances: no inbound except from the load balancer (added by the service); outbound for ECR, ECS and the model hub',
      allowAllOutbound: true,
    });
    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'ECS container instance: the agent registers and runs tasks; SSM for break-glass shell access',
    });
    this.instanceRole.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
    this.instanceRole.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchAgentServerPolicy'));

    const userData = ec2.UserData.forLinux();
    userData.addCommands('echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config');
    if (this.usesSpot) {
      // aws-cdk-lib writes this only for groups with a spotPrice; a mixed instances policy has none, so without this
      // line an interrupted instance's tasks would be killed instead of drained.
      userData.addCommands('echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config');
    }
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
      instanceType: new ec2.InstanceType(props.instanceType),
      userData,
      role: this.instanceRole,
      securityGroup: this.securityGroup,
      associatePublicIpAddress: props.associatePublicIp,
      requireImdsv2: true,
      // Hop limit 1: containers on the bridge network cannot reach the instance role's credentials.
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 100, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const placement = props.spot === undefined
      ? { launchTemplate: this.launchTemplate }
      : {
          mixedInstancesPolicy: {
            launchTemplate: this.launchTemplate,
            launchTemplateOverrides: spotInstanceTypes(props.instanceType).map((type) => ({
              instanceType: new ec2.InstanceType(type),
            })),
            instancesDistribution: {
              onDemandBaseCapacity: props.spot.onDemandBase,
              onDemandPercentageAboveBaseCapacity: 0,
              onDemandAllocationStrategy: autoscaling.OnDemandAllocationStrategy.PRIORITIZED,
              spotAllocationStrategy: autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
            },
          },
          capacityRebalance: true,
        };
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      // The capacity provider's managed scaling sets the desired count from the tasks waiting for a GPU.
      minCapacity: 0,
      maxCapacity: props.maxInstances,
      ...placement,
    });

    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
      machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
    });
    props.cluster.addAsgCapacityProvider(this.capacityProvider);
    // After the ECS lines the cluster just added, so the agent registers before this install runs.
    userData.addCommands(
      'dnf install -y amazon-cloudwatch-agent',
      `cat > ${AGENT_CONFIG_PATH} <<'EOF'`,
      JSON.stringify(gpuAgentConfig()),
      'EOF',
      `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${AGENT_CONFIG_PATH}`,
    );

    this.release = new CapacityRelease(this, 'Release', { autoScalingGroup: this.autoScalingGroup });
    // Released before the cluster's capacity provider association goes, while ECS still manages the group.
    this.release.node.addDependency(props.cluster);
  }

  /** GPU utilization (%) across the group's instances. */
  metricGpuUtilization(statistic = 'Average'): cloudwatch.Metric {
    return this.gpuMetric('nvidia_smi_utilization_gpu', statistic);
  }

  /**
   * GPU memory in use as a percentage of the GPU's memory: the fullest instance's use over the smallest GPU of the
   * group (spot pools mix GPU sizes), so it errs towards alarming.
   */
  metricGpuMemoryUsedPercent(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: '100 * used / total',
      usingMetrics: { used: this.gpuMetric('nvidia_smi_memory_used', 'Maximum'), total: this.gpuMetric('nvidia_smi_memory_total', 'Minimum') },
      label: 'GPU memory used (%)',
      period: Duration.minutes(1),
    });
  }

  private gpuMetric(metricName: string, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: GPU_METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { AutoScalingGroupName: this.autoScalingGroup.autoScalingGroupName },
      statistic,
      period: Duration.minutes(1),
    });
  }
}
