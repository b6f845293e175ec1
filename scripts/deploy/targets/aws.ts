// The aws target: the CDK app (cdk.json -> infra/aws/app.ts) with `-c spec=FILE`; the stack is the spec's
// name and its EndpointUrl output comes back through `--outputs-file`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PrerequisiteError, StepError, UsageError } from '../errors';
import { endpointFromCdkOutputs } from '../outputs';
import { LOGIN_HINTS, resolveTool } from '../tools';
import type { TargetContext, TargetPlan } from './target';

export function awsPlan(ctx: TargetContext): TargetPlan {
  const stack = ctx.spec.name;
  if (ctx.options.stack !== undefined && ctx.options.stack !== stack) {
    throw new UsageError(
      `--stack ${ctx.options.stack}: the CDK app names the stack after the spec's "name" (${stack}); drop --stack or change "name" in the spec`,
    );
  }
  const app = ['-c', `spec=${ctx.specArg}`];
  const outputsFile = join(ctx.workDir, 'cdk-outputs.json');
  return {
    stack,
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
        const said = identity.stderr.trim().split('\n').pop() ?? '';
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
      return { url: endpointFromCdkOutputs(text, stack, outputsFile) };
    },
  };
}
