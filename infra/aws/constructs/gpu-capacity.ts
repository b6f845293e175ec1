// EC2 GPU capacity for an ECS cluster: a launch template on the ECS GPU-optimized AMI (IMDSv2 only, encrypted
// root volume), an Auto Scaling group (on-demand, or spot over an on-demand base) and a managed capacity provider.
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { spotInstanceTypes } from '../gpu-sizing';

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

    const userData = ec2.UserData.forLinux();
    userData.addCommands('echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config');
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
      spotInstanceDraining: props.spot !== undefined,
    });
    props.cluster.addAsgCapacityProvider(this.capacityProvider);
  }
}
