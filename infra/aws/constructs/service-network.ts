// The VPC a service runs in: two AZs, public subnets for the load balancer, NAT only when asked for, and isolated
// subnets for data stores (no route to or from the internet) when a stack has one.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface ServiceNetworkProps {
  /**
   * NAT gateways. With 0 there are no private subnets: instances and tasks sit in the public subnets
   * with public IPs (to reach ECR, ECS and the model hub) and security groups that admit only the load balancer.
   * @default 0
   */
  readonly natGateways?: number;
  /**
   * Add isolated subnets (no internet route either way) for data stores such as the proxy's shared-state cache.
   * @default false
   */
  readonly dataSubnets?: boolean;
  /**
   * Availability zones to spread over (an ALB needs two).
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * The VPC's address range.
   * @default '10.0.0.0/16'
   */
  readonly cidr?: string;
  /**
   * How long VPC flow logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

export class ServiceNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** The VPC's address range as a literal (`vpc.vpcCidrBlock` is a deploy-time token). */
  readonly cidr: string;
  /** Where the service's instances or tasks go: private subnets behind NAT, else the public ones. */
  readonly workloadSubnets: ec2.SubnetSelection;
  /** True when workloads sit in public subnets and need a public IP for outbound traffic. */
  readonly workloadsNeedPublicIp: boolean;
  /** The isolated subnets for data stores, when asked for. */
  readonly dataSubnets?: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: ServiceNetworkProps = {}) {
    super(scope, id);
    const natGateways = props.natGateways ?? 0;
    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
    ];
    if (natGateways > 0) {
      subnetConfiguration.push({ name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 });
    }
    if (props.dataSubnets === true) {
      subnetConfiguration.push({ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 });
      this.dataSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    }
    this.cidr = props.cidr ?? '10.0.0.0/16';
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(this.cidr),
      maxAzs: props.maxAzs ?? 2,
      natGateways,
      subnetConfiguration,
      restrictDefaultSecurityGroup: true,
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    this.workloadsNeedPublicIp = natGateways === 0;
    this.workloadSubnets = { subnetType: natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC };
  }
}
