// The azure and gcp targets: the Pulumi program (Pulumi.yaml -> infra/pulumi/index.ts) on a stack whose
// config `spec` names the spec file; outputs url, registry, identity and apiKeysSecret from `pulumi stack
// output --json`. Azure first checks (and on consent registers) the subscription's resource providers.
import { basename, extname } from 'node:path';
import type { DeploymentSpec } from '../../../infra/spec';
import { checkResourceProviders, registerMissingProviders } from '../azure-providers';
import { PrerequisiteError, StepError } from '../errors';
import { parsePulumiOutputs } from '../outputs';
import { lastLine, type Command } from '../runner';
import { INSTALL_HINTS, LOGIN_HINTS, resolveTool } from '../tools';
import type { Step, TargetContext, TargetPlan } from './target';

/**
 * The stack: --stack, else the spec file's name, which matches the example stack files (Pulumi.azure-inference.yaml),
 * plus -ENV with --environment (azure-inference-staging).
 */
export function pulumiStackName(ctx: Pick<TargetContext, 'options'>): string {
  if (ctx.options.stack !== undefined) return ctx.options.stack;
  const fromFile = basename(ctx.options.specPath, extname(ctx.options.specPath));
  return ctx.options.environment === undefined ? fromFile : `${fromFile}-${ctx.options.environment}`;
}

/** The endpoint's URL as the platform will form it (stack output url). */
export function plannedPulumiUrl(spec: DeploymentSpec): string {
  if (spec.target === 'azure') {
    return spec.endpoint.public
      ? `https://${spec.name}.ENVIRONMENT_DEFAULT_DOMAIN (Container Apps external ingress, e.g. ${spec.name}.<unique>.${spec.region}.azurecontainerapps.io; stack output url)`
      : `https://${spec.name}.internal.ENVIRONMENT_DEFAULT_DOMAIN (internal ingress: reachable from inside the Container Apps environment only; stack output url)`;
  }
  const access = spec.endpoint.public
    ? 'invoker IAM check off: anyone with the API key'
    : 'invoker IAM check on: callers also need roles/run.invoker and an identity token';
  return `https://${spec.name}-PROJECT_NUMBER.${spec.region}.run.app (Cloud Run; ${access}; stack output url)`;
}

export function pulumiPlan(ctx: TargetContext): TargetPlan {
  const stack = pulumiStackName(ctx);
  const onStack = ['--stack', stack, '--non-interactive'];
  // `--config` on up/preview also saves the values into Pulumi.<stack>.yaml, so a later plain `pulumi up` agrees.
  const config = ['--config', `spec=${ctx.specArg}`, '--config', `registryOnly=${ctx.options.registryOnly}`];
  const select: Command = { tool: 'pulumi', args: ['stack', 'select', '--create', ...onStack] };
  const whoami: Command = { tool: 'pulumi', args: ['whoami', '--non-interactive'] };
  const outputs: Step = { title: `read stack ${stack} outputs`, command: { tool: 'pulumi', args: ['stack', 'output', '--json', ...onStack] }, quiet: true };
  const what = ctx.options.registryOnly ? 'the registry and identity only (registryOnly)' : `${ctx.spec.variant} on ${ctx.spec.target}`;
  return {
    stack,
    plannedUrl: plannedPulumiUrl(ctx.spec),
    deploy: [
      { title: `select stack ${stack} (created when new)`, command: select },
      {
        title: `update stack ${stack}: ${what}`,
        command: { tool: 'pulumi', args: ['up', '--yes', ...onStack, ...config] },
        hint:
          ctx.spec.target === 'azure'
            ? 'the azure-native provider needs `az login` (or ARM_USE_OIDC/ARM_CLIENT_ID/ARM_TENANT_ID/ARM_SUBSCRIPTION_ID in CI)'
            : 'the gcp provider needs `gcloud auth application-default login` and a project (`pulumi config set gcp:project P` or GOOGLE_PROJECT)',
      },
      outputs,
    ],
    reuse: ctx.options.registryOnly
      ? {
          steps: [{ title: `select stack ${stack} (created when new)`, command: select }, outputs],
          pick: (results) => {
            const existing = parsePulumiOutputs(results[results.length - 1]?.stdout ?? '', stack);
            return existing.registry === undefined ? undefined : { registry: existing.registry, identity: existing.identity };
          },
        }
      : undefined,
    destroy: [{ title: `destroy stack ${stack}`, command: { tool: 'pulumi', args: ['destroy', '--yes', ...onStack] } }],
    preview: async () => {
      if (resolveTool('pulumi', ctx.env) === undefined) return { skipped: 'pulumi not found on PATH (install it to preview)' };
      const login = await ctx.runner(whoami, { quiet: true });
      if (login.code !== 0) return { skipped: 'pulumi is not logged in (`pulumi login` to preview)' };
      return [
        { title: `select stack ${stack} (created when new)`, command: select },
        { title: `preview stack ${stack}: ${what}`, command: { tool: 'pulumi', args: ['preview', ...onStack, ...config] } },
      ];
    },
    checkPrerequisites: async () => {
      if (resolveTool('pulumi', ctx.env) === undefined) {
        throw new PrerequisiteError(
          'pulumi not found on PATH: install the Pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` ' +
            '(https://www.pulumi.com/docs/iac/download-install/), then `pulumi login`',
        );
      }
      const login = await ctx.runner(whoami, { quiet: true });
      if (login.code !== 0) {
        const said = lastLine(login.stderr);
        throw new PrerequisiteError(`pulumi is not logged in (pulumi whoami: ${said}): ${LOGIN_HINTS.pulumi}`);
      }
      if (ctx.spec.target !== 'azure' || ctx.options.destroy) return;
      if (resolveTool('az', ctx.env) === undefined) {
        throw new PrerequisiteError(`az not found: the deploy command checks the subscription's resource providers with it: ${INSTALL_HINTS.az}`);
      }
      const providers = await checkResourceProviders(ctx.spec, ctx.runner);
      await registerMissingProviders(providers, { yes: ctx.options.yes, confirm: ctx.confirm }, ctx.runner, ctx.output);
    },
    readEndpoint: async (results) => {
      const outputs = parsePulumiOutputs(results[results.length - 1]?.stdout ?? '', stack);
      if (ctx.options.registryOnly) {
        if (outputs.registry === undefined) throw new StepError(`stack ${stack} has no registry output after the registryOnly update`);
        return { registry: outputs.registry, identity: outputs.identity };
      }
      if (outputs.url === undefined) {
        throw new StepError(`stack ${stack} has no url output: the update ran with registryOnly=true; deploy again without --registry-only`);
      }
      const store = ctx.spec.target === 'azure' ? 'azure' : 'gcp';
      return {
        url: outputs.url,
        registry: outputs.registry,
        identity: outputs.identity,
        ...(outputs.apiKeysSecret === undefined ? {} : { apiKeys: { store, reference: outputs.apiKeysSecret } }),
      };
    },
  };
}
