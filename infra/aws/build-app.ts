// Turns deployment spec files into CDK stacks (one per spec, chosen by its variant) and puts cdk-nag's
// AWS Solutions checks on the app, so `cdk synth` fails on any finding that is not acknowledged.
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DeploymentSpec, loadDeploymentSpec, SpecError } from '../spec';
import { assertDeployableOnAws } from './aws-spec';
import { InferenceStack } from './inference-stack';
import { acknowledgeInferenceFindings, acknowledgeProxyFindings } from './nag-acknowledgements';
import { ProxyStack } from './proxy-stack';

/** Synthesized when no `-c spec=...` is given. */
export const DEFAULT_SPEC_FILES: readonly string[] = ['deploy/aws-inference.json', 'deploy/aws-proxy.json'];

/**
 * Account for offline synth when no credentials are configured; cdk.context.json holds its AZ lookups.
 * `cdk deploy` with credentials sets CDK_DEFAULT_ACCOUNT, which replaces it.
 */
export const PLACEHOLDER_ACCOUNT = '123456789012';

export interface DeploymentStackOptions {
  /**
   * Where `spec` came from, for error messages.
   * @default 'spec'
   */
  readonly source?: string;
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

/** Adds the stack for `spec` (its id is the spec's name) with its cdk-nag acknowledgements. */
export function addDeploymentStack(app: App, spec: DeploymentSpec, options: DeploymentStackOptions = {}): InferenceStack | ProxyStack {
  const source = options.source ?? 'spec';
  assertDeployableOnAws(spec, source);
  if (app.node.tryFindChild(spec.name) !== undefined) {
    throw new SpecError(`${source}: name: "${spec.name}" is already used by another spec in this deployment; names must be unique`);
  }
  const props = {
    spec,
    buildContext: options.buildContext,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT, region: spec.region },
    description: `gpt2-openai-toolkit ${spec.variant} endpoint "${spec.name}" (from ${source})`,
    tags: { ...spec.tags, 'gpt2-openai-toolkit:deployment': spec.name },
  };
  if (spec.variant === 'inference') {
    const stack = new InferenceStack(app, spec.name, props);
    acknowledgeInferenceFindings(stack);
    return stack;
  }
  const stack = new ProxyStack(app, spec.name, props);
  acknowledgeProxyFindings(stack);
  return stack;
}

/** Builds every stack the app's `spec` context names (paths relative to the working directory). */
export function buildAwsApp(app: App): Array<InferenceStack | ProxyStack> {
  const stacks = specFilesFromContext(app.node.tryGetContext('spec')).map((file) =>
    addDeploymentStack(app, loadDeploymentSpec(path.resolve(file)), { source: file }),
  );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stacks;
}
