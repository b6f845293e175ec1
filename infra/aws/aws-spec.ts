// What a deployment spec must satisfy on AWS beyond infra/spec.ts; errors name the field, like the spec's own.
import { DeploymentSpec, SpecError } from '../spec';
import { taskSizeFor } from './gpu-sizing';
import { stopTimeoutFor } from './service-container';

/** Fargate's ceiling on a container's stop timeout. */
export const FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120;

/** Throws SpecError when `spec` cannot be deployed by this CDK app. */
export function assertDeployableOnAws(spec: DeploymentSpec, source: string): void {
  const problems: string[] = [];
  if (spec.target !== 'aws') {
    problems.push(`target: "${spec.target}" is not deployed by the AWS CDK app; use "aws" (or the ${spec.target} tooling)`);
  }
  if (spec.scaling.minReplicas < 1) {
    problems.push(
      'scaling.minReplicas: 0 is not supported on AWS: with no task the load balancer counts no requests per target, so the service would never scale up; use 1',
    );
  }
  if (spec.variant === 'inference') {
    try {
      taskSizeFor(spec.compute.gpuType);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (spec.variant === 'proxy') {
    const margin = stopTimeoutFor(spec.drainSeconds).toSeconds() - spec.drainSeconds;
    if (spec.drainSeconds + margin > FARGATE_MAX_STOP_TIMEOUT_SECONDS) {
      problems.push(
        `drainSeconds: ${spec.drainSeconds} is too long for Fargate, which kills a task at most ${FARGATE_MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM; use ${FARGATE_MAX_STOP_TIMEOUT_SECONDS - margin} or less`,
      );
    }
  }
  if (problems.length > 0) {
    throw new SpecError(`${source} cannot be deployed to AWS:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}
