// Turns deployment spec files into CDK stacks (one per spec, chosen by its variant, named after the spec and the
// environment), pins each inference model to a commit, and puts cdk-nag's AWS Solutions checks on the app, so
// `cdk synth` fails on any finding that is not acknowledged.
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { hubOptionsFromEnv, type HubOptions } from '../../service/models/hub-client';
import { DeploymentSpec, loadDeploymentSpec, SpecError } from '../spec';
import { assertDeployableOnAws } from './aws-spec';
import { InferenceStack } from './inference-stack';
import { resolveModelCommit } from './model-revision';
import { acknowledgeInferenceFindings, acknowledgeProxyFindings } from './nag-acknowledgements';
import { ProxyStack } from './proxy-stack';

/** Synthesized when no `-c spec=...` is given. */
export const DEFAULT_SPEC_FILES: readonly string[] = ['deploy/aws-inference.json', 'deploy/aws-proxy.json'];

/**
 * Account for offline synth when no credentials are configured; cdk.context.json holds its AZ lookups.
 * `cdk deploy` with credentials sets CDK_DEFAULT_ACCOUNT, which replaces it.
 */
export const PLACEHOLDER_ACCOUNT = '123456789012';

/** CDK context keys this app reads: `-c spec=FILES`, `-c environment=NAME`, `-c pinModelRevision=false`. */
export const CONTEXT_KEYS = { spec: 'spec', environment: 'environment', pinModelRevision: 'pinModelRevision' } as const;

const ENVIRONMENT = /^[a-z][a-z0-9]{0,15}$/;

export interface DeploymentStackOptions {
  /**
   * Where `spec` came from, for error messages.
   * @default 'spec'
   */
  readonly source?: string;
  /**
   * Deployment environment (staging, production): appended to the stack name so environments can share an account.
   * @default - none: the stack is named after the spec
   */
  readonly environment?: string;
  /**
   * The commit the inference model's revision resolved to (resolveModelCommit).
   * @default - the spec's revision as written
   */
  readonly modelCommit?: string;
  /**
   * Directory holding the Dockerfile.
   * @default - the repository root
   */
  readonly buildContext?: string;
}

/** The `spec` context value (`-c spec=a.json,b.json`) as file paths; the two examples when absent. */
export function specFilesFromContext(value: unknown): string[] {
  if (value === undefined) return [...DEFAULT_SPEC_FILES];
  const files = typeof value === 'string' ? value.split(',').map((file) => file.trim()).filter((file) => file.length > 0) : [];
  if (files.length === 0) {
    throw new SpecError(`context "spec" must name one or more spec files, comma-separated (e.g. -c spec=deploy/aws-dev.json); got ${JSON.stringify(value)}`);
  }
  return files;
}

/** The `environment` context value; undefined when absent. */
export function environmentFromContext(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ENVIRONMENT.test(value)) {
    throw new SpecError(`context "environment" must be 1-16 lowercase letters and digits starting with a letter (e.g. -c environment=staging); got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The `pinModelRevision` context value: true unless it says false. */
export function pinModelRevisionFromContext(value: unknown): boolean {
  if (value === undefined || value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new SpecError(`context "pinModelRevision" must be true or false; got ${JSON.stringify(value)}`);
}

/** The stack of `specName` in `environment`: `gpt2-aws`, or `gpt2-aws-staging`. */
export function stackNameFor(specName: string, environment?: string): string {
  return environment === undefined ? specName : `${specName}-${environment}`;
}

/** Adds the stack for `spec` with its cdk-nag acknowledgements. */
export function addDeploymentStack(app: App, spec: DeploymentSpec, options: DeploymentStackOptions = {}): InferenceStack | ProxyStack {
  const source = options.source ?? 'spec';
  assertDeployableOnAws(spec, source);
  const stackName = stackNameFor(spec.name, options.environment);
  if (app.node.tryFindChild(stackName) !== undefined) {
    throw new SpecError(`${source}: name: "${spec.name}" is already used by another spec in this deployment; names must be unique`);
  }
  const props = {
    spec,
    buildContext: options.buildContext,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT, region: spec.region },
    description: `gpt2-openai-toolkit ${spec.variant} endpoint "${stackName}" (from ${source})`,
    tags: {
      ...spec.tags,
      'gpt2-openai-toolkit:deployment': spec.name,
      ...(options.environment === undefined ? {} : { 'gpt2-openai-toolkit:environment': options.environment }),
    },
  };
  if (spec.variant === 'inference') {
    const stack = new InferenceStack(app, stackName, { ...props, modelCommit: options.modelCommit });
    acknowledgeInferenceFindings(stack);
    return stack;
  }
  const stack = new ProxyStack(app, stackName, props);
  acknowledgeProxyFindings(stack);
  return stack;
}

export interface BuildAwsAppOptions {
  /**
   * The hub the model revisions are resolved against.
   * @default - from HF_ENDPOINT and HF_TOKEN
   */
  readonly hub?: HubOptions;
}

/** Builds every stack the app's context names (spec paths relative to the working directory). */
export async function buildAwsApp(app: App, options: BuildAwsAppOptions = {}): Promise<Array<InferenceStack | ProxyStack>> {
  const files = specFilesFromContext(app.node.tryGetContext(CONTEXT_KEYS.spec));
  const environment = environmentFromContext(app.node.tryGetContext(CONTEXT_KEYS.environment));
  const pin = pinModelRevisionFromContext(app.node.tryGetContext(CONTEXT_KEYS.pinModelRevision));
  const specs = files.map((file) => ({ file, spec: loadDeploymentSpec(path.resolve(file)) }));
  const stacks: Array<InferenceStack | ProxyStack> = [];
  for (const { file, spec } of specs) {
    const modelCommit =
      pin && spec.variant === 'inference'
        ? await resolveModelCommit(spec.model.id, spec.model.revision, options.hub ?? hubOptionsFromEnv(process.env)).catch((error: unknown) => {
            throw new SpecError(`${file}: ${(error as Error).message}`);
          })
        : undefined;
    stacks.push(addDeploymentStack(app, spec, { source: file, environment, modelCommit }));
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stacks;
}
