// What both stacks agree on about the service's container (docs/architecture.md): its port, its liveness
// probe, and how long ECS waits after SIGTERM while the service drains.
import { Duration } from 'aws-cdk-lib';

/** PORT the service listens on inside the container. */
export const CONTAINER_PORT = 8080;

/** Seconds between the end of draining and SIGKILL, for the process to flush logs and exit. */
const EXIT_MARGIN_SECONDS = 5;

/** ECS sends SIGKILL this long after SIGTERM: the drain window plus a margin to exit cleanly. */
export function stopTimeoutFor(drainSeconds: number): Duration {
  return Duration.seconds(drainSeconds + EXIT_MARGIN_SECONDS);
}

/** Liveness (GET /health) with the Node the image already has: no curl or wget needed in the image. */
export function healthCommand(): string[] {
  const probe = `fetch('http://127.0.0.1:${CONTAINER_PORT}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return ['CMD', 'node', '-e', probe];
}
