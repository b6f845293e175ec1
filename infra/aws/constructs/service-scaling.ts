// Task-count autoscaling for a load-balanced ECS service: requests in flight per task when the service publishes
// them, and ALB requests per target and CPU as further signals (any one scales out; all must agree to scale in).
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';

export interface ServiceScalingProps {
  readonly service: ecs.BaseService;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Target of the ALBRequestCountPerTarget policy: requests one replica takes per minute. */
  readonly requestsPerReplicaPerMinute: number;
  /**
   * Track this per-task metric (in-flight requests) at `targetPerTask`: what limits an LLM replica is how many
   * sequences it holds, which neither request counts nor CPU see while streams run.
   * @default - no such policy
   */
  readonly inFlight?: { readonly metric: cloudwatch.IMetric; readonly targetPerTask: number };
  /**
   * Target average CPU of the service, a further signal (catches long generations the request count misses).
   * @default 70
   */
  readonly cpuTargetPercent?: number;
  /**
   * Wait after a scale-out before another; a GPU replica needs minutes to boot and load the model.
   * @default Duration.seconds(60)
   */
  readonly scaleOutCooldown?: Duration;
  /**
   * Wait after a scale-in before another.
   * @default Duration.seconds(300)
   */
  readonly scaleInCooldown?: Duration;
}

export class ServiceScaling extends Construct {
  readonly scalableTaskCount: ecs.ScalableTaskCount;

  constructor(scope: Construct, id: string, props: ServiceScalingProps) {
    super(scope, id);
    const cooldowns = {
      scaleOutCooldown: props.scaleOutCooldown ?? Duration.seconds(60),
      scaleInCooldown: props.scaleInCooldown ?? Duration.seconds(300),
    };
    this.scalableTaskCount = props.service.autoScaleTaskCount({
      minCapacity: props.minReplicas,
      maxCapacity: props.maxReplicas,
    });
    if (props.inFlight !== undefined) {
      this.scalableTaskCount.scaleToTrackCustomMetric('InFlightPerTask', {
        metric: props.inFlight.metric,
        targetValue: props.inFlight.targetPerTask,
        ...cooldowns,
      });
    }
    this.scalableTaskCount.scaleOnRequestCount('RequestsPerReplica', {
      requestsPerTarget: props.requestsPerReplicaPerMinute,
      targetGroup: props.targetGroup,
      ...cooldowns,
    });
    this.scalableTaskCount.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.cpuTargetPercent ?? 70,
      ...cooldowns,
    });
  }
}
