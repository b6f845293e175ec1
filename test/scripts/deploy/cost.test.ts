import { parseDeploymentSpec, type DeploymentSpecInput } from '../../../infra/spec';
import { hourlyCost } from '../../../scripts/deploy/cost';

const cost = (input: DeploymentSpecInput) => hourlyCost(parseDeploymentSpec(input));

describe('hourlyCost', () => {
  it('multiplies one replica by min and max replicas, and names the price list and its date', () => {
    const aws = cost({ name: 'c-aws', target: 'aws', scaling: { minReplicas: 2, maxReplicas: 3 } });
    expect(aws?.dollarsPerHour).toEqual({ min: 2 * 0.526, max: 3 * 0.526 });
    expect(aws?.line).toContain('as of 2026-11-29');
    // Cloud Run L4: GPU + 4 vCPU + 16 GiB, plus the Prometheus sidecar's 1 vCPU and 0.5 GiB, per second.
    const perSecond = 0.0001867 + 5 * 0.000018 + 16.5 * 0.000002;
    expect(cost({ name: 'c-gcp', target: 'gcp', scaling: { minReplicas: 0, maxReplicas: 1 } })?.dollarsPerHour?.max).toBeCloseTo(perSecond * 3600, 6);
  });

  it('prices the proxy on its CPU-only shape, and says when it has no documented price instead of guessing', () => {
    expect(cost({ name: 'c-proxy', target: 'azure', variant: 'proxy', scaling: { minReplicas: 1, maxReplicas: 1 } })?.dollarsPerHour?.max).toBeCloseTo((0.5 * 0.000024 + 0.000003) * 3600, 6);
    const g5 = cost({ name: 'c-g5', target: 'aws', compute: { gpuType: 'g5.xlarge' } });
    expect(g5?.dollarsPerHour).toBeUndefined();
    expect(g5?.line).toContain('no price documented for g5.xlarge');
    expect(cost({ name: 'c-local', target: 'local' })).toBeUndefined();
  });
});
