import * as pulumi from '@pulumi/pulumi';
import { containerAppsLifecycle, INGRESS_IDLE_TIMEOUT_SECONDS, MAX_TERMINATION_GRACE_SECONDS } from '../../../infra/azure/platform';
import { cloudRunLifecycle, FRONT_END_KEEPALIVE_SECONDS, MAX_REQUEST_TIMEOUT_SECONDS, SIGTERM_GRACE_SECONDS } from '../../../infra/gcp/platform';
import { keepAliveTimeoutSeconds } from '../../../infra/pulumi/service-lifecycle';
import { parseDeploymentSpec, type DeploymentSpecInput } from '../../../infra/spec';

const spec = (input: Partial<DeploymentSpecInput> = {}) => parseDeploymentSpec({ name: 'lifecycle', target: 'azure', ...input });

/** Each platform: its front end's idle timeout, its SIGTERM-to-SIGKILL grace, and the lifecycle the stack derives. */
const platforms = [
  {
    name: 'Container Apps',
    frontEndIdle: INGRESS_IDLE_TIMEOUT_SECONDS,
    lifecycle: containerAppsLifecycle,
    grace: (s: ReturnType<typeof spec>) => containerAppsLifecycle(s).terminationGracePeriodSeconds,
  },
  { name: 'Cloud Run', frontEndIdle: FRONT_END_KEEPALIVE_SECONDS, lifecycle: cloudRunLifecycle, grace: () => SIGTERM_GRACE_SECONDS },
];

describe('service lifecycle per platform', () => {
  afterEach(() => jest.restoreAllMocks());

  it('keeps idle connections open longer than the front end and drains inside the kill deadline, on every platform', () => {
    jest.spyOn(pulumi.log, 'warn').mockResolvedValue();
    for (const platform of platforms) {
      for (const maxRequestSeconds of [1, 300, 3600]) {
        const s = spec({ maxRequestSeconds });
        const lifecycle = platform.lifecycle(s);
        expect({ platform: platform.name, outlasts: lifecycle.keepAliveTimeoutSeconds > platform.frontEndIdle }).toEqual({ platform: platform.name, outlasts: true });
        expect({ platform: platform.name, drainsInGrace: lifecycle.drainTimeoutSeconds < platform.grace(s) }).toEqual({ platform: platform.name, drainsInGrace: true });
      }
    }
  });

  it('adds the same 5 s margin to any front-end idle timeout', () => {
    expect([240, 600].map(keepAliveTimeoutSeconds)).toEqual([245, 605]);
  });

  it('lets Container Apps streams run for maxRequestSeconds, up to the 600 s grace, and warns past it', () => {
    const warn = jest.spyOn(pulumi.log, 'warn').mockResolvedValue();
    expect(containerAppsLifecycle(spec({ maxRequestSeconds: 120, drainSeconds: 30 }))).toMatchObject({ drainTimeoutSeconds: 120, terminationGracePeriodSeconds: 122 });
    expect(containerAppsLifecycle(spec({ maxRequestSeconds: 60, drainSeconds: 90 })).drainTimeoutSeconds).toBe(90);
    expect(warn).not.toHaveBeenCalled();
    expect(containerAppsLifecycle(spec({ maxRequestSeconds: 3600 })).terminationGracePeriodSeconds).toBe(MAX_TERMINATION_GRACE_SECONDS);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('gives Cloud Run requests maxRequestSeconds, capped at its 60-minute limit', () => {
    expect(cloudRunLifecycle(spec({ maxRequestSeconds: 900 })).requestTimeoutSeconds).toBe(900);
    expect(cloudRunLifecycle(spec({ maxRequestSeconds: 3600 })).requestTimeoutSeconds).toBe(MAX_REQUEST_TIMEOUT_SECONDS);
  });
});
