// Test support: a CDK App configured like `cdk synth` configures it (cdk.json's feature flags and the committed
// cdk.context.json lookups), writing to a temporary directory; and AWS specs built from small overrides.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack, Stage } from 'aws-cdk-lib';
import { DeploymentSpec, parseDeploymentSpec } from '../../../infra/spec';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, file), 'utf8')) as Record<string, unknown>;
}

/** The context the CDK CLI would pass: cdk.json's `context` plus cdk.context.json, and `extra` on top. */
export function cliContext(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cdkJson = readJson('cdk.json') as { context: Record<string, unknown> };
  return { ...cdkJson.context, ...readJson('cdk.context.json'), ...extra };
}

export function newApp(extraContext: Record<string, unknown> = {}): App {
  return new App({ context: cliContext(extraContext), outdir: mkdtempSync(path.join(tmpdir(), 'cdk-test-')) });
}

/** An AWS spec: `overrides` on top of a minimal valid one (parsed, so defaults are filled as in production). */
export function awsSpec(overrides: Record<string, unknown> = {}): DeploymentSpec {
  return parseDeploymentSpec({ name: 'gpt2-test', target: 'aws', ...overrides }, 'test spec');
}

/**
 * The warnings synthesis recorded on `stack` and its constructs. Reads the app's last synthesis (Template.fromStack
 * caches it) instead of Annotations.fromStack, which synthesizes the whole app again on every call.
 */
export function warningsOf(stack: Stack): string[] {
  return Stage.of(stack)!
    .synth()
    .getStackArtifact(stack.artifactId)
    .messages.filter((message) => message.level === 'warning')
    .map((message) => String(message.entry.data));
}
