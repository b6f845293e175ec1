// Task-count autoscaling for a load-balanced ECS service: ALB requests per target, with CPU as a second signal.
import { Duration } from 'aws-cdk-lib';
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
   * Target average CPU of the service, the second signal (catches long generations the request count misses).
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
