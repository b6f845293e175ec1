// How long a stopping task may drain: the load balancer's deregistration delay, the service's
// DRAIN_TIMEOUT_SECONDS and ECS's stop timeout, from the spec's maxRequestSeconds and drainSeconds.
import { Duration } from 'aws-cdk-lib';
import { DeploymentSpec } from '../spec';

/** Fargate runs the proxy; EC2 (GPU instances) runs inference. */
export type LaunchType = 'ec2' | 'fargate';

/** Fargate's ceiling on a container's stop timeout (ECS ContainerDefinition.stopTimeout). */
export const FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120;

/** EC2 gives a Spot instance two minutes between the interruption notice and its end. */
export const SPOT_INTERRUPTION_NOTICE_SECONDS = 120;

/** Seconds between the end of draining and SIGKILL, for the process to flush logs and exit. */
const EXIT_MARGIN_SECONDS = 5;

export interface DrainPlan {
  /**
   * The target group's deregistration delay: ECS sends the stop signal only once the load balancer reports the
   * target unused, so a stream of up to this length finishes before SIGTERM; then the balancer closes what is left.
   */
  readonly deregistrationDelay: Duration;
  /** DRAIN_TIMEOUT_SECONDS: after SIGTERM the service finishes in-flight requests for up to this long, then exits. */
  readonly drainTimeoutSeconds: number;
  /** ECS sends SIGKILL this long after SIGTERM: the drain plus a margin to exit. */
  readonly stopTimeout: Duration;
}

/** The longest drain after SIGTERM a container of `launchType` can be given. */
export function maxDrainSecondsOn(launchType: LaunchType): number {
  return launchType === 'fargate' ? FARGATE_MAX_STOP_TIMEOUT_SECONDS - EXIT_MARGIN_SECONDS : Number.POSITIVE_INFINITY;
}

/**
 * The drain for `spec` on `launchType`. After SIGTERM the service drains for the longer of drainSeconds and
 * maxRequestSeconds (it exits as soon as nothing is in flight, so a long bound costs nothing when idle), capped by
 * Fargate's stop-timeout ceiling; there the deregistration delay (up to 3600 s) still covers maxRequestSeconds.
 */
export function drainPlanFor(spec: DeploymentSpec, launchType: LaunchType): DrainPlan {
  const drainTimeoutSeconds = Math.min(Math.max(spec.drainSeconds, spec.maxRequestSeconds), maxDrainSecondsOn(launchType));
  return {
    deregistrationDelay: Duration.seconds(spec.maxRequestSeconds),
    drainTimeoutSeconds,
    stopTimeout: Duration.seconds(drainTimeoutSeconds + EXIT_MARGIN_SECONDS),
  };
}
