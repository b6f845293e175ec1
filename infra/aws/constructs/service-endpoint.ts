// An Application Load Balancer in front of one service: HTTP, or HTTPS with HTTP redirected, access logs
// to an encrypted SSL-only bucket, and the target group whose health check gates traffic on readiness.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface ServiceEndpointProps {
  readonly vpc: ec2.IVpc;
  /**
   * Internet-facing; false makes an internal load balancer reachable only from inside the VPC.
   * @default true
   */
  readonly internetFacing?: boolean;
  /**
   * Who may reach an internal load balancer.
   * @default - the VPC's CIDR block
   */
  readonly internalClientCidr?: string;
  /**
   * ACM certificate for an HTTPS listener on 443; port 80 then only redirects to it.
   * @default - HTTP on port 80 only
   */
  readonly certificateArn?: string;
  /**
   * DNS name clients use (pointed at the load balancer by the operator); it becomes the endpoint URL's host.
   * @default - the load balancer's own DNS name
   */
  readonly domainName?: string;
  /**
   * Idle timeout; long enough for a slow non-streamed completion.
   * @default Duration.seconds(180)
   */
  readonly idleTimeout?: Duration;
  /**
   * Days access logs are kept in the bucket.
   * @default 90
   */
  readonly accessLogRetentionDays?: number;
}

export interface ServiceTargetOptions {
  /** What the load balancer sends requests to (an ECS service's `loadBalancerTarget(...)`). */
  readonly target: elbv2.IApplicationLoadBalancerTarget;
  /** Port the container listens on. */
  readonly port: number;
  /**
   * Readiness path: 200 once the service can answer (model loaded), 503 while starting or draining.
   * @default '/ready'
   */
  readonly healthCheckPath?: string;
  /**
   * How long the load balancer lets in-flight requests of a deregistered target finish.
   * @default Duration.seconds(30)
   */
  readonly deregistrationDelay?: Duration;
}

/** An internal load balancer prefers private subnets; with no NAT there are none, and it gets private IPs in the public ones. */
function loadBalancerSubnetType(vpc: ec2.IVpc, internetFacing: boolean): ec2.SubnetType {
  if (internetFacing || vpc.privateSubnets.length === 0) return ec2.SubnetType.PUBLIC;
  return ec2.SubnetType.PRIVATE_WITH_EGRESS;
}

export class ServiceEndpoint extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The listener that forwards to the service (HTTPS when a certificate is given, else HTTP). */
  readonly servingListener: elbv2.ApplicationListener;
  readonly accessLogBucket: s3.Bucket;
  /** The load balancer's security group: clients in on the listener ports. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly internetFacing: boolean;
  /** Base URL clients use, e.g. `http://name-123.us-east-1.elb.amazonaws.com`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ServiceEndpointProps) {
    super(scope, id);
    const internetFacing = props.internetFacing ?? true;
    this.internetFacing = internetFacing;

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // ALB log delivery supports only SSE-S3 on the target bucket, not SSE-KMS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(props.accessLogRetentionDays ?? 90) }],
      // Access logs are audit evidence: they outlive the stack; README's destroy step says how to remove them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const securityGroup = (this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Load balancer: clients in on the listener ports, out only to the service targets',
      allowAllOutbound: false,
    }));
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing,
      securityGroup,
      vpcSubnets: { subnetType: loadBalancerSubnetType(props.vpc, internetFacing) },
      idleTimeout: props.idleTimeout ?? Duration.seconds(180),
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(this.accessLogBucket, 'alb');

    const clients = internetFacing ? ec2.Peer.anyIpv4() : ec2.Peer.ipv4(props.internalClientCidr ?? props.vpc.vpcCidrBlock);
    if (props.certificateArn === undefined) {
      this.servingListener = this.loadBalancer.addListener('Http', { port: 80, open: false });
      securityGroup.addIngressRule(clients, ec2.Port.tcp(80), 'HTTP from clients');
    } else {
      this.servingListener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
      });
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
      securityGroup.addIngressRule(clients, ec2.Port.tcp(443), 'HTTPS from clients');
      securityGroup.addIngressRule(clients, ec2.Port.tcp(80), 'HTTP from clients, redirected to HTTPS');
    }

    const scheme = props.certificateArn === undefined ? 'http' : 'https';
    this.url = `${scheme}://${props.domainName ?? this.loadBalancer.loadBalancerDnsName}`;
  }

  /** Routes every request on the serving listener to `options.target`; returns its target group. */
  addServiceTarget(id: string, options: ServiceTargetOptions): elbv2.ApplicationTargetGroup {
    return this.servingListener.addTargets(id, {
      port: options.port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [options.target],
      deregistrationDelay: options.deregistrationDelay ?? Duration.seconds(30),
      healthCheck: {
        path: options.healthCheckPath ?? '/ready',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
  }
}
