// What Cloud Run documents about connections, shutdown and request length, and the service lifecycle that
// follows from it for a spec.
import type { DeploymentSpec } from '../spec';
import { EXIT_MARGIN_SECONDS, keepAliveTimeoutSeconds, type ServiceLifecycle } from '../pulumi/service-lifecycle';

/**
 * Google's front end keeps idle connections to backends open for 600 s, fixed ("the backend keepalive
 * timeout is fixed at 10 minutes", external Application Load Balancer docs); requests to a run.app URL and
 * to a serverless NEG behind a load balancer both pass through it.
 */
export const FRONT_END_KEEPALIVE_SECONDS = 600;

/**
 * A Cloud Run instance being shut down gets SIGTERM and then 10 seconds before SIGKILL; the grace is not
 * configurable (container runtime contract; "Graceful shutdowns on Cloud Run").
 */
export const SIGTERM_GRACE_SECONDS = 10;

/** A request may run at most 60 minutes (request timeout, services). */
export const MAX_REQUEST_TIMEOUT_SECONDS = 3600;

export interface CloudRunLifecycle extends ServiceLifecycle {
  /** template.timeout: the longest request Cloud Run lets run before answering 504. */
  readonly requestTimeoutSeconds: number;
}

/**
 * The drain fits inside the fixed 10 s grace. Longer streams are not cut by deploys: when traffic moves to a
 * new revision, requests in flight on the old one run to completion, and scale-in picks instances without
 * traffic. Only an instance Cloud Run stops while it serves (host maintenance, a crash) ends a longer stream.
 */
export function cloudRunLifecycle(spec: DeploymentSpec): CloudRunLifecycle {
  return {
    drainTimeoutSeconds: SIGTERM_GRACE_SECONDS - EXIT_MARGIN_SECONDS,
    keepAliveTimeoutSeconds: keepAliveTimeoutSeconds(FRONT_END_KEEPALIVE_SECONDS),
    requestTimeoutSeconds: Math.min(spec.maxRequestSeconds, MAX_REQUEST_TIMEOUT_SECONDS),
  };
}
