// An Application Load Balancer in front of one service: HTTPS (a given certificate, or a DNS-validated one for a
// domain in a Route 53 zone, with its alias record) with HTTP redirected, or plain HTTP; /metrics answered 404 at
// the edge; access logs to an encrypted SSL-only bucket; the target group whose health check gates on readiness.
import { Annotations, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The load balancer's idle timeout: long enough for a slow non-streamed completion to send its first byte. */
export const LOAD_BALANCER_IDLE_TIMEOUT = Duration.seconds(180);

/** Paths the load balancer answers itself with 404, whatever the service would do: metrics stay inside the task. */
export const BLOCKED_PATHS = ['/metrics', '/metrics/*'];

/** The body of that 404, in OpenAI's error envelope like every other error the API returns. */
export const BLOCKED_PATH_BODY = JSON.stringify({
  error: { message: 'Not found', type: 'invalid_request_error', param: null, code: 'not_found' },
});

export interface ServiceEndpointProps {
  readonly vpc: ec2.IVpc;
  /**
   * Internet-facing; false makes an internal load balancer reachable only from inside the VPC.
   * @default false
   */
  readonly internetFacing?: boolean;
  /**
   * Who may reach an internal load balancer.
   * @default - the VPC's CIDR block
   */
  readonly internalClientCidr?: string;
  /**
   * ACM certificate for the HTTPS listener on 443; port 80 then only redirects to it.
   * @default - a DNS-validated certificate for `domainName` when `hostedZoneId` is given, else HTTP on port 80 only
   */
  readonly certificateArn?: string;
  /**
   * DNS name clients use; it becomes the endpoint URL's host.
   * @default - the load balancer's own DNS name
   */
  readonly domainName?: string;
  /**
   * The public Route 53 hosted zone holding `domainName`: the endpoint creates the alias record there and, without
   * `certificateArn`, a certificate validated through the same zone.
   * @default - no record: the operator points `domainName` at the load balancer
   */
  readonly hostedZoneId?: string;
  /**
   * Idle timeout; the service's keep-alive must outlast it (keepAliveSecondsFor).
   * @default LOAD_BALANCER_IDLE_TIMEOUT
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
  /** The listener that forwards to the service (HTTPS when there is a certificate, else HTTP). */
  readonly servingListener: elbv2.ApplicationListener;
  readonly accessLogBucket: s3.Bucket;
  /** The load balancer's security group: clients in on the listener ports. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly internetFacing: boolean;
  /** True when the serving listener is HTTPS. */
  readonly servesTls: boolean;
  readonly idleTimeout: Duration;
  /** The certificate the stack created for `domainName`, if it created one. */
  readonly certificate?: acm.Certificate;
  /** Base URL clients use, e.g. `https://gpt2.example.com` or `http://internal-name-123.us-east-1.elb.amazonaws.com`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ServiceEndpointProps) {
    super(scope, id);
    const internetFacing = props.internetFacing ?? false;
    this.internetFacing = internetFacing;
    this.idleTimeout = props.idleTimeout ?? LOAD_BALANCER_IDLE_TIMEOUT;

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
      idleTimeout: this.idleTimeout,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(this.accessLogBucket, 'alb');

    // Offline: the zone is named by id, and the record by its fully qualified name (trailing dot), so neither
    // a zone lookup nor the zone's name is needed at synth.
    const zone = props.hostedZoneId === undefined ? undefined : route53.HostedZone.fromHostedZoneId(this, 'Zone', props.hostedZoneId);
    if (props.certificateArn === undefined && zone !== undefined && props.domainName !== undefined) {
      this.certificate = new acm.Certificate(this, 'Certificate', {
        domainName: props.domainName,
        validation: acm.CertificateValidation.fromDns(zone),
      });
    }
    const certificateArn = props.certificateArn ?? this.certificate?.certificateArn;
    this.servesTls = certificateArn !== undefined;

    if (internetFacing && !this.servesTls) {
      Annotations.of(this).addWarning(
        'This public endpoint serves plain HTTP: bearer keys and completions cross the internet unencrypted. ' +
          'Give endpoint.certificateArn, or endpoint.domainName with endpoint.hostedZoneId.',
      );
    }
    const clients = internetFacing ? ec2.Peer.anyIpv4() : ec2.Peer.ipv4(props.internalClientCidr ?? props.vpc.vpcCidrBlock);
    if (certificateArn === undefined) {
      this.servingListener = this.loadBalancer.addListener('Http', { port: 80, open: false });
      securityGroup.addIngressRule(clients, ec2.Port.tcp(80), 'HTTP from clients');
    } else {
      this.servingListener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
      });
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
      securityGroup.addIngressRule(clients, ec2.Port.tcp(443), 'HTTPS from clients');
      securityGroup.addIngressRule(clients, ec2.Port.tcp(80), 'HTTP from clients, redirected to HTTPS');
    }
    // Defence in depth: the service already keeps /metrics off its API port (METRICS_PORT), but an image that
    // predates that, or a misconfigured task, must still not publish key names and traffic volumes.
    new elbv2.ApplicationListenerRule(this, 'MetricsNotFound', {
      listener: this.servingListener,
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(BLOCKED_PATHS)],
      action: elbv2.ListenerAction.fixedResponse(404, { contentType: 'application/json', messageBody: BLOCKED_PATH_BODY }),
    });

    if (zone !== undefined && props.domainName !== undefined) {
      new route53.ARecord(this, 'AliasRecord', {
        zone,
        recordName: `${props.domainName.replace(/\.$/, '')}.`,
        target: route53.RecordTarget.fromAlias(new route53Targets.LoadBalancerTarget(this.loadBalancer)),
      });
    }

    const scheme = this.servesTls ? 'https' : 'http';
    this.url = `${scheme}://${props.domainName ?? this.loadBalancer.loadBalancerDnsName}`;
  }

  /** Routes every other request on the serving listener to `options.target`; returns its target group. */
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
