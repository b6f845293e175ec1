// The deploy command's flow: validate the spec against --target, plan the target's commands, then print
// them (dry run) or check prerequisites, run them, read the endpoint and smoke-test it. Never throws:
// every failure becomes a DeployResult with its exit code.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { loadDeploymentSpec, SpecError, type DeploymentSpec } from '../../infra/spec';
import { stepTimer, type StepTimer } from '../progress';
import { formatTable } from '../smoke/report';
import { locate, plannedApiKeys, readApiKey } from './api-keys';
import { hourlyCost } from './cost';
import { DeployError, StepError, UsageError } from './errors';
import type { DeployOptions } from './options';
import { createRunner, formatCommand, type CommandResult, type CommandRunner, type Output } from './runner';
import { runSmokeFor } from './smoke-step';
import { toJson, type DeployAction, type DeployResult } from './summary';
import { awsPlan } from './targets/aws';
import { localPlan } from './targets/local';
import { pulumiPlan } from './targets/pulumi';
import type { Endpoint, Step, TargetContext, TargetPlan } from './targets/target';
import { REPO_ROOT } from './tools';

export interface DeployDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
  /** Asked before changing a cloud or tearing anything down, unless --yes. */
  readonly confirm: (question: string) => Promise<boolean>;
  /** Runs the tools; default: spawn with `env`, in the repository root. */
  readonly runner?: CommandRunner;
}

function actionOf(options: DeployOptions): DeployAction {
  if (options.dryRun) return 'dry-run';
  if (options.destroy) return 'destroy';
  return options.registryOnly ? 'registry-only' : 'deploy';
}

function loadSpec(options: DeployOptions): DeploymentSpec {
  const spec = loadDeploymentSpec(resolve(options.specPath));
  if (spec.target !== options.target) {
    throw new UsageError(
      `${options.specPath} targets "${spec.target}" but --target is "${options.target}": use --target ${spec.target}, ` +
        `or a spec whose "target" is "${options.target}" (deploy/${options.target}-*.json)`,
    );
  }
  return spec;
}

/** The spec path the tools get (they run in the repository root): relative when inside it, so stack files stay portable. */
function specArgFor(path: string): string {
  const fromRoot = relative(REPO_ROOT, resolve(path));
  return fromRoot.startsWith('..') || isAbsolute(fromRoot) ? resolve(path) : fromRoot;
}

/**
 * --image (and --model-revision): the same spec with "image" (and model.revision) replaced, written into the
 * work folder; validated like the original.
 */
async function specWithImage(options: DeployOptions, image: string, workDir: string): Promise<string> {
  const raw = JSON.parse(await readFile(resolve(options.specPath), 'utf8')) as Record<string, unknown>;
  const model = options.modelRevision === undefined ? {} : { model: { ...(raw.model as Record<string, unknown> | undefined), revision: options.modelRevision } };
  const path = join(workDir, basename(options.specPath));
  await writeFile(path, `${JSON.stringify({ ...raw, image, ...model }, null, 2)}\n`);
  loadDeploymentSpec(path);
  return path;
}

async function planFor(ctx: TargetContext): Promise<TargetPlan> {
  switch (ctx.spec.target) {
    case 'aws':
      return awsPlan(ctx);
    case 'azure':
    case 'gcp':
      return pulumiPlan(ctx);
    case 'local':
      return localPlan(ctx);
  }
}

async function runSteps(steps: readonly Step[], runner: CommandRunner, output: Output, timer: StepTimer, commands: string[]): Promise<CommandResult[]> {
  const results: CommandResult[] = [];
  for (const step of steps) {
    const shown = formatCommand(step.command);
    commands.push(shown);
    const timed = timer.start(step.title);
    output(`$ ${shown}`);
    const result = await runner(step.command, { quiet: step.quiet }).catch((error: unknown) => {
      timed.end('failed');
      throw error;
    });
    timed.end(result.code === 0 ? 'done' : 'failed');
    if (result.code !== 0) {
      const detail = step.quiet ? `: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}` : ' (its output is above)';
      const hint = step.hint === undefined ? '' : `; ${step.hint}`;
      throw new StepError(`\`${shown}\` failed with exit code ${result.code}${detail}${hint}`);
    }
    results.push(result);
  }
  return results;
}

/** What a run has found out so far; it becomes the DeployResult whether the run ends well or not. */
type Findings = { -readonly [K in keyof DeployResult]?: DeployResult[K] };

/** Dry run: the commands, where the API key will live, the URL and the cost, then the synth/preview steps. */
async function dryRun(plan: TargetPlan, spec: DeploymentSpec, options: DeployOptions, runner: CommandRunner, output: Output, found: Findings, commands: string[]): Promise<void> {
  const steps = options.destroy ? plan.destroy : plan.deploy;
  output(`spec ${options.specPath} is valid. Commands a real run would execute:`);
  for (const step of steps) {
    commands.push(formatCommand(step.command));
    output(`  ${formatCommand(step.command)}`);
  }
  if (!options.destroy) {
    output('  then: smoke test of the endpoint');
    const apiKeys = plannedApiKeys(spec);
    if (apiKeys !== undefined) found.apiKeys = apiKeys;
    const cost = hourlyCost(spec);
    if (cost !== undefined) found.cost = cost.line;
    found.plannedUrl = plan.plannedUrl;
    output(`url: ${plan.plannedUrl}`);
    if (apiKeys !== undefined) output(`api key: ${apiKeys.where}; read it with: ${apiKeys.readCommand}`);
    else if (spec.variant === 'proxy') output('api key: the proxy keeps its client keys hashed (PROXY_KEYS); give the smoke test one with --api-key');
    if (cost !== undefined) output(`cost: ${cost.line}`);
  }
  const preview = await plan.preview();
  if ('skipped' in preview) {
    output(`note: preview skipped: ${preview.skipped}`);
    found.preview = `skipped: ${preview.skipped}`;
    return;
  }
  found.preview = preview.map((step) => formatCommand(step.command)).join(' && ');
  await runSteps(preview, runner, output, stepTimer(output, { total: preview.length }), []);
}

/** A cloud deploy and any destroy go ahead only when --yes or the person says so. */
async function confirmChange(spec: DeploymentSpec, plan: TargetPlan, options: DeployOptions, deps: DeployDeps): Promise<void> {
  if (options.yes || (options.target === 'local' && !options.destroy)) return;
  const verb = options.destroy ? 'Destroy' : 'Deploy';
  if (!(await deps.confirm(`${verb} ${spec.name} (${spec.variant}) on ${spec.target}, stack ${plan.stack}? [y/N] `))) {
    throw new UsageError('not confirmed: nothing was changed (pass --yes to skip the question)');
  }
}

/** The smoke test's key: --api-key (or SMOKE_API_KEY), else read from the stack's API key secret. */
async function smokeApiKey(endpoint: Endpoint, options: DeployOptions, runner: CommandRunner, output: Output, commands: string[]): Promise<string | undefined> {
  if (options.apiKey !== undefined || endpoint.apiKeys === undefined) return options.apiKey;
  const location = locate(endpoint.apiKeys);
  commands.push(location.readCommand);
  output(`==> read the API key from ${location.where} (not shown)`);
  output(`$ ${location.readCommand}`);
  return readApiKey(endpoint.apiKeys, runner);
}

async function smokeTest(
  spec: DeploymentSpec,
  url: string,
  options: DeployOptions,
  apiKey: string | undefined,
  output: Output,
  found: Findings,
  timer: StepTimer,
): Promise<void> {
  const smokeStep = timer.start(`smoke test of ${url} (waits for /ready)`);
  const smoke = await runSmokeFor(spec, url, { ...options, apiKey }).catch((error: unknown) => {
    smokeStep.end('failed');
    throw error;
  });
  smokeStep.end(smoke.passed ? 'done' : 'failed');
  output(formatTable(smoke));
  found.smoke = smoke;
  if (!smoke.passed) throw new StepError(`the smoke test failed against ${url} (the table above says which check and why)`);
}

function recordEndpoint(found: Findings, endpoint: Endpoint): void {
  const { apiKeys, ...rest } = endpoint;
  Object.assign(found, rest, apiKeys === undefined ? {} : { apiKeys: locate(apiKeys) });
}

/**
 * The run itself: fills `found` as it goes and throws on the first failure. Its phases are the functions above
 * (dryRun, confirmChange, plan.checkPrerequisites, runSteps, plan.readEndpoint, smokeApiKey, smokeTest), so a
 * progress reporter can wrap each one.
 */
async function execute(
  options: DeployOptions,
  deps: DeployDeps,
  runner: CommandRunner,
  workDir: string,
  found: Findings,
  commands: string[],
): Promise<void> {
  const output = deps.output;
  const spec = loadSpec(options);
  Object.assign(found, { name: spec.name, variant: spec.variant, model: { id: spec.model.id, revision: spec.model.revision } });
  const specArg = options.image === undefined ? specArgFor(options.specPath) : await specWithImage(options, options.image, workDir);
  const plan = await planFor({ spec, specArg, options, runner, output, env: deps.env, workDir, confirm: deps.confirm });
  found.stack = plan.stack;
  output(`${actionOf(options)}: spec ${spec.name} (${spec.variant}) -> ${spec.target}, stack ${plan.stack}`);
  if (options.dryRun) return dryRun(plan, spec, options, runner, output, found, commands);

  await confirmChange(spec, plan, options, deps);
  await plan.checkPrerequisites();
  const steps = options.destroy ? plan.destroy : plan.deploy;
  // Numbered over the whole run: reading an existing stack, the target's steps, then the smoke test.
  const reuse = options.destroy ? undefined : plan.reuse;
  const smokeTested = !options.destroy && !options.registryOnly;
  const timer = stepTimer(output, { total: (reuse?.steps.length ?? 0) + steps.length + (smokeTested ? 1 : 0) });
  if (reuse !== undefined) {
    const existing = reuse.pick(await runSteps(reuse.steps, runner, output, timer, commands));
    if (existing !== undefined) {
      output(`stack ${plan.stack} already has its registry ${existing.registry ?? ''}: nothing to create`);
      recordEndpoint(found, existing);
      return;
    }
  }
  const results = await runSteps(steps, runner, output, timer, commands);
  if (options.destroy) return;

  const endpoint = await plan.readEndpoint(results);
  recordEndpoint(found, endpoint);
  if (endpoint.url === undefined) return;
  const apiKey = await smokeApiKey(endpoint, options, runner, output, commands);
  await smokeTest(spec, endpoint.url, options, apiKey, output, found, timer);
}

export async function runDeploy(options: DeployOptions, deps: DeployDeps): Promise<DeployResult> {
  const runner = deps.runner ?? createRunner({ cwd: REPO_ROOT, env: deps.env, output: deps.output });
  const commands: string[] = [];
  const found: Findings = {};
  const workDir = await mkdtemp(join(tmpdir(), 'deploy-'));
  let failure: { exitCode: number; error: string } | undefined;
  try {
    await execute(options, deps, runner, workDir, found, commands);
  } catch (error) {
    const known = error instanceof SpecError ? new UsageError(error.message) : error;
    failure =
      known instanceof DeployError
        ? { exitCode: known.exitCode, error: known.message }
        : { exitCode: 1, error: `unexpected: ${(known as Error).stack ?? String(known)}` };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const result: DeployResult = {
    ok: failure === undefined,
    exitCode: failure?.exitCode ?? 0,
    action: actionOf(options),
    target: options.target,
    spec: options.specPath,
    ...found,
    commands,
    ...(failure === undefined ? {} : { error: failure.error }),
  };
  if (options.jsonFile !== undefined) await writeFile(resolve(options.jsonFile), toJson(result));
  return result;
}
