// How long the service keeps idle connections open and drains after SIGTERM, derived from what each
// platform documents about its front end and its shutdown grace. Each cloud folder supplies the numbers.

/** The service's keep-alive outlasts the front end's by this much, so the front end always closes an idle connection first. */
export const KEEP_ALIVE_MARGIN_SECONDS = 5;

/** Between the drain deadline and the platform's kill: time to close sockets and flush the last log lines. */
export const EXIT_MARGIN_SECONDS = 2;

/**
 * KEEP_ALIVE_TIMEOUT_SECONDS for a service behind a front end that drops connections idle for
 * `frontEndIdleTimeoutSeconds`. If the service closed first, the front end could send a request down a
 * connection the service has just closed, and the client would get a 502.
 */
export function keepAliveTimeoutSeconds(frontEndIdleTimeoutSeconds: number): number {
  return frontEndIdleTimeoutSeconds + KEEP_ALIVE_MARGIN_SECONDS;
}

/** What one platform's lifecycle means for the service's environment. */
export interface ServiceLifecycle {
  /** KEEP_ALIVE_TIMEOUT_SECONDS. */
  readonly keepAliveTimeoutSeconds: number;
  /** DRAIN_TIMEOUT_SECONDS: in-flight requests may finish for this long after SIGTERM. */
  readonly drainTimeoutSeconds: number;
}
