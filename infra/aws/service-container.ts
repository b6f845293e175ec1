// What both stacks agree on about the service's container (docs/architecture.md): its ports, its liveness
// probe, how long its idle connections live next to the load balancer's, and its batch size.
import { Duration } from 'aws-cdk-lib';
import { DeploymentSpec } from '../spec';

/** PORT the service listens on inside the container: the API, the only port the load balancer reaches. */
export const CONTAINER_PORT = 8080;

/**
 * METRICS_PORT: the service serves /metrics only here (its API port answers 404 there). No port mapping,
 * listener, target group or security group rule routes to it; it is reachable only inside the task.
 */
export const METRICS_PORT = 9464;

/** How much longer than the load balancer the service keeps an idle connection open. */
const KEEP_ALIVE_MARGIN_SECONDS = 5;

/**
 * KEEP_ALIVE_TIMEOUT_SECONDS for a service behind a load balancer with `idleTimeout`. The load balancer must be
 * the side that closes an idle connection: if the service closed first, the balancer could send a request on a
 * connection the service has just closed and answer 502 (ELB's "connection idle timeout" guidance).
 */
export function keepAliveSecondsFor(idleTimeout: Duration): number {
  return idleTimeout.toSeconds() + KEEP_ALIVE_MARGIN_SECONDS;
}

/**
 * MAX_BATCH_SIZE: the engine runs at most `scaling.targetConcurrency` sequences at once, the same number the
 * autoscaler keeps in flight per replica, so a replica at its target is a full batch and anything above it queues.
 */
export function maxBatchSizeFor(spec: DeploymentSpec): number {
  return spec.scaling.targetConcurrency;
}

/** Liveness (GET /health) with the Node the image already has: no curl or wget needed in the image. */
export function healthCommand(): string[] {
  const probe = `fetch('http://127.0.0.1:${CONTAINER_PORT}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return ['CMD', 'node', '-e', probe];
}
