// What Azure Container Apps documents about connections and shutdown, and the service lifecycle that follows
// from it for a spec.
import * as pulumi from '@pulumi/pulumi';
import type { DeploymentSpec } from '../spec';
import { EXIT_MARGIN_SECONDS, keepAliveTimeoutSeconds, type ServiceLifecycle } from '../pulumi/service-lifecycle';

/**
 * The environment's ingress (Envoy) closes requests idle for 4 minutes: the default of the environment's
 * ingressConfiguration.requestIdleTimeout (Microsoft Learn, IngressConfiguration / premium ingress), which only
 * premium ingress on a dedicated profile can change.
 */
export const INGRESS_IDLE_TIMEOUT_SECONDS = 240;

/** template.terminationGracePeriodSeconds accepts at most 600 s (Container Apps support blog, "Graceful termination on Container Apps"). */
export const MAX_TERMINATION_GRACE_SECONDS = 600;

export interface ContainerAppsLifecycle extends ServiceLifecycle {
  /** SIGTERM to SIGKILL: the drain plus the exit margin. */
  readonly terminationGracePeriodSeconds: number;
}

/**
 * A replica drains for the longest request the spec allows (maxRequestSeconds, or drainSeconds if longer),
 * so deploys and scale-in let streams finish; the platform's 600 s cap bounds it, with a warning.
 */
export function containerAppsLifecycle(spec: DeploymentSpec): ContainerAppsLifecycle {
  const wanted = Math.max(spec.maxRequestSeconds, spec.drainSeconds);
  const drainTimeoutSeconds = Math.min(wanted, MAX_TERMINATION_GRACE_SECONDS - EXIT_MARGIN_SECONDS);
  if (drainTimeoutSeconds < wanted) {
    void pulumi.log.warn(
      `spec "${spec.name}": a Container Apps replica gets at most ${MAX_TERMINATION_GRACE_SECONDS} s after SIGTERM, so requests ` +
        `running longer than ${drainTimeoutSeconds} s (maxRequestSeconds is ${spec.maxRequestSeconds}) are cut on deploys and scale-in`,
    );
  }
  return {
    drainTimeoutSeconds,
    terminationGracePeriodSeconds: drainTimeoutSeconds + EXIT_MARGIN_SECONDS,
    keepAliveTimeoutSeconds: keepAliveTimeoutSeconds(INGRESS_IDLE_TIMEOUT_SECONDS),
  };
}
