// What every target gives the deploy command: its stack name, the steps that deploy, tear down and preview
// it, its prerequisite checks, what the endpoint will look like, and how to read it from the tools' outputs.
import type { DeploymentSpec } from '../../../infra/spec';
import type { ApiKeysSecret } from '../api-keys';
import type { DeployOptions } from '../options';
import type { Command, CommandResult, CommandRunner, Output } from '../runner';

export interface Step {
  readonly command: Command;
  /** Shown before the command runs. */
  readonly title: string;
  /** Its output is machine-readable (read by readEndpoint), not streamed. */
  readonly quiet?: boolean;
  /** Added to the error when the command fails: the usual cause and its fix. */
  readonly hint?: string;
}

export interface Endpoint {
  /** Base URL the smoke test runs against; absent for a registry-only deployment. */
  readonly url?: string;
  readonly registry?: string;
  readonly identity?: string;
  /** Inference on a cloud: the secret holding the API keys (a stack output). */
  readonly apiKeys?: ApiKeysSecret;
}

export interface TargetContext {
  readonly spec: DeploymentSpec;
  /** The spec path as the tools get it: relative to the repository root when inside it. */
  readonly specArg: string;
  readonly options: DeployOptions;
  readonly runner: CommandRunner;
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  /** A private temporary folder for files the tools write (the CDK outputs file). */
  readonly workDir: string;
  /** Asks the person running the command (a prerequisite the command could fix, e.g. Azure resource providers). */
  readonly confirm: (question: string) => Promise<boolean>;
}

export interface TargetPlan {
  readonly stack: string;
  /** Dry run: the URL the endpoint will have, or how the stack forms it. */
  readonly plannedUrl: string;
  readonly deploy: readonly Step[];
  readonly destroy: readonly Step[];
  /** Dry run: the synth/preview steps, or why there are none (a tool absent or not logged in). */
  readonly preview: () => Promise<readonly Step[] | { readonly skipped: string }>;
  /** Throws PrerequisiteError when a tool is missing or not logged in. */
  readonly checkPrerequisites: () => Promise<void>;
  /**
   * Run before the deploy steps: when `pick` finds what the deployment would produce already there, the deploy
   * steps are skipped (registry-only on a stack that has its registry, where a registryOnly update would
   * delete the running service).
   */
  readonly reuse?: { readonly steps: readonly Step[]; readonly pick: (results: readonly CommandResult[]) => Endpoint | undefined };
  /** After the deploy steps: the endpoint, from their results (in step order). */
  readonly readEndpoint: (results: readonly CommandResult[]) => Promise<Endpoint>;
}
