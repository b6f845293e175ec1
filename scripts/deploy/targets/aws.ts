// The aws target: the CDK app (cdk.json -> infra/aws/app.ts) with `-c spec=FILE` (and `-c environment=ENV`);
// the stack is the spec's name (NAME-ENV with an environment) and its EndpointUrl and ApiKeysSecretArn
// outputs come back through `--outputs-file`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeploymentSpec } from '../../../infra/spec';
import { PrerequisiteError, StepError, UsageError } from '../errors';
import { endpointFromCdkOutputs } from '../outputs';
import { lastLine } from '../runner';
import { LOGIN_HINTS, resolveTool } from '../tools';
import type { TargetContext, TargetPlan } from './target';

/** The stack the CDK app builds for the spec (infra/aws/build-app.ts): the spec's name, plus -ENV with an environment. */
export function awsStackName(spec: Pick<DeploymentSpec, 'name'>, environment: string | undefined): string {
  return environment === undefined ? spec.name : `${spec.name}-${environment}`;
}

/** The endpoint's URL as the stack will form it from the spec (infra/aws/constructs/service-endpoint.ts). */
export function plannedAwsUrl(spec: DeploymentSpec): string {
  const { domainName, hostedZoneId, certificateArn } = spec.endpoint;
  const reach = spec.endpoint.public ? '' : ' (internal load balancer: reachable from inside the VPC only)';
  if (domainName !== undefined && (hostedZoneId !== undefined || certificateArn !== undefined)) {
    const certificate = certificateArn === undefined ? `a DNS-validated certificate and the record in hosted zone ${hostedZoneId}` : 'endpoint.certificateArn';
    return `https://${domainName}${reach} (${certificate}; stack output EndpointUrl)`;
  }
  if (certificateArn !== undefined) return `https://LOAD_BALANCER_DNS_NAME${reach} (endpoint.certificateArn; stack output EndpointUrl)`;
  return (
    `http://LOAD_BALANCER_DNS_NAME${reach} (no certificate, so plain HTTP${spec.endpoint.public ? ', which a public endpoint needs endpoint.allowHttp for' : ''}; ` +
    'endpoint.domainName with endpoint.hostedZoneId gives https://DOMAIN; stack output EndpointUrl)'
  );
}

export function awsPlan(ctx: TargetContext): TargetPlan {
  const stack = awsStackName(ctx.spec, ctx.options.environment);
  if (ctx.options.stack !== undefined && ctx.options.stack !== stack) {
    throw new UsageError(
      `--stack ${ctx.options.stack}: the CDK app names the stack after the spec's "name"${ctx.options.environment === undefined ? '' : ' and --environment'} ` +
        `(${stack}); drop --stack or change "name" in the spec`,
    );
  }
  const app = ['-c', `spec=${ctx.specArg}`, ...(ctx.options.environment === undefined ? [] : ['-c', `environment=${ctx.options.environment}`])];
  const outputsFile = join(ctx.workDir, 'cdk-outputs.json');
  return {
    stack,
    plannedUrl: plannedAwsUrl(ctx.spec),
    deploy: [
      {
        title: `deploy stack ${stack} (CloudFormation; builds and pushes the image unless the spec names one)`,
        command: { tool: 'cdk', args: ['deploy', stack, ...app, '--require-approval', 'never', '--outputs-file', outputsFile] },
        hint:
          `first deploy to this account and region? \`npx cdk bootstrap aws://ACCOUNT/${ctx.spec.region}\` once; ` +
          'a failed first deploy leaves the stack in ROLLBACK_COMPLETE: `--destroy` it, then deploy again',
      },
    ],
    destroy: [{ title: `destroy stack ${stack}`, command: { tool: 'cdk', args: ['destroy', stack, ...app, '--force'] } }],
    preview: async () => {
      if (resolveTool('cdk', ctx.env) === undefined) return { skipped: 'cdk not found (run `npm ci` to synthesize)' };
      return [{ title: `synthesize stack ${stack} (offline, with the cdk-nag checks)`, command: { tool: 'cdk', args: ['synth', stack, ...app, '--quiet'] } }];
    },
    checkPrerequisites: async () => {
      if (resolveTool('cdk', ctx.env) === undefined) {
        throw new PrerequisiteError('cdk not found: run `npm ci` in the repository (aws-cdk is a dev dependency)');
      }
      if (resolveTool('aws', ctx.env) === undefined) {
        ctx.output('aws CLI not found: credentials are checked by cdk itself');
        return;
      }
      const identity = await ctx.runner({ tool: 'aws', args: ['sts', 'get-caller-identity', '--output', 'json'] }, { quiet: true });
      if (identity.code !== 0) {
        const said = lastLine(identity.stderr);
        throw new PrerequisiteError(`AWS credentials are missing or expired (aws sts get-caller-identity: ${said}): ${LOGIN_HINTS.aws}`);
      }
    },
    readEndpoint: async () => {
      let text: string;
      try {
        text = await readFile(outputsFile, 'utf8');
      } catch {
        throw new StepError(`cdk deploy succeeded but wrote no outputs file ${outputsFile}`);
      }
      const { url, apiKeysSecretArn } = endpointFromCdkOutputs(text, stack, outputsFile);
      return { url, ...(apiKeysSecretArn === undefined ? {} : { apiKeys: { store: 'aws', reference: apiKeysSecretArn } }) };
    },
  };
}
