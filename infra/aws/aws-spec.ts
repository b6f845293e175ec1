// What a deployment spec must satisfy on AWS beyond infra/spec.ts; errors name the field, like the spec's own.
import { DeploymentSpec, SpecError } from '../spec';
import { maxDrainSecondsOn } from './draining';
import { taskSizeFor } from './gpu-sizing';
import { modelFitFor, modelFitProblem } from './model-fit';

const HOSTED_ZONE_ID = /^Z[0-9A-Z]{1,31}$/;
const CERTIFICATE_REGION = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\//;

function endpointProblems(spec: DeploymentSpec): string[] {
  const { endpoint } = spec;
  const problems: string[] = [];
  if (endpoint.hostedZoneId !== undefined && endpoint.domainName === undefined) {
    problems.push('endpoint.hostedZoneId: needs endpoint.domainName, the name to create in that zone');
  }
  if (endpoint.hostedZoneId !== undefined && !HOSTED_ZONE_ID.test(endpoint.hostedZoneId)) {
    problems.push(`endpoint.hostedZoneId: ${endpoint.hostedZoneId} is not a Route 53 hosted zone id (Z followed by letters and digits)`);
  }
  const certificateRegion = endpoint.certificateArn === undefined ? undefined : CERTIFICATE_REGION.exec(endpoint.certificateArn)?.[1];
  if (endpoint.certificateArn !== undefined && certificateRegion === undefined) {
    problems.push(`endpoint.certificateArn: ${endpoint.certificateArn} is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)`);
  } else if (certificateRegion !== undefined && certificateRegion !== spec.region) {
    problems.push(`endpoint.certificateArn: the certificate is in ${certificateRegion}; a load balancer in ${spec.region} needs one from ${spec.region}`);
  }
  const hasTls = endpoint.certificateArn !== undefined || (endpoint.domainName !== undefined && endpoint.hostedZoneId !== undefined);
  if (endpoint.public && !hasTls && !endpoint.allowHttp) {
    problems.push(
      'endpoint.public: a public endpoint needs TLS: give endpoint.certificateArn, or endpoint.domainName with endpoint.hostedZoneId ' +
        '(a DNS-validated certificate is created), or set endpoint.allowHttp: true to serve plain HTTP knowingly',
    );
  }
  return problems;
}

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
  problems.push(...endpointProblems(spec));
  if (spec.variant === 'inference') {
    try {
      taskSizeFor(spec.compute.gpuType);
      const fit = modelFitFor(spec);
      const problem = fit === undefined ? undefined : modelFitProblem(fit);
      if (problem !== undefined) problems.push(problem);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (spec.variant === 'proxy' && spec.drainSeconds > maxDrainSecondsOn('fargate')) {
    problems.push(
      `drainSeconds: ${spec.drainSeconds} is too long for Fargate, which kills a task at most 120 s after SIGTERM; use ${maxDrainSecondsOn('fargate')} or less ` +
        '(streams up to maxRequestSeconds still finish: the load balancer drains them before SIGTERM)',
    );
  }
  if (problems.length > 0) {
    throw new SpecError(`${source} cannot be deployed to AWS:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}
