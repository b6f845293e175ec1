// The deploy command's flow: validate the spec against --target, plan the target's commands, then print
// them (dry run) or check prerequisites, run them, read the endpoint and smoke-test it. Never throws:
// every failure becomes a DeployResult with its exit code.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { loadDeploymentSpec, SpecError, type DeploymentSpec } from '../../infra/spec';
import { stepTimer, type StepTimer } from '../progress';
import { formatTable } from '../smoke/report';
import { DeployError, StepError, UsageError } from './errors';
import type { DeployOptions } from './options';
import { createRunner, formatCommand, type CommandResult, type CommandRunner, type Output } from './runner';
import { runSmokeFor } from './smoke-step';
import { toJson, type DeployAction, type DeployResult } from './summary';
import { awsPlan } from './targets/aws';
import { localPlan } from './targets/local';
import { pulumiPlan } from './targets/pulumi';
import type { Step, TargetContext, TargetPlan } from './targets/target';
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

/** --image: the same spec with "image" replaced, written into the work folder; validated like the original. */
async function specWithImage(options: DeployOptions, image: string, workDir: string): Promise<string> {
  const raw = JSON.parse(await readFile(resolve(options.specPath), 'utf8')) as Record<string, unknown>;
  const path = join(workDir, basename(options.specPath));
  await writeFile(path, `${JSON.stringify({ ...raw, image }, null, 2)}\n`);
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

/** The run itself: fills `found` as it goes and throws on the first failure. */
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
  const plan = await planFor({ spec, specArg, options, runner, output, env: deps.env, workDir });
  found.stack = plan.stack;
  const steps = options.destroy ? plan.destroy : plan.deploy;
  output(`${actionOf(options)}: spec ${spec.name} (${spec.variant}) -> ${spec.target}, stack ${plan.stack}`);

  if (options.dryRun) {
    output(`spec ${options.specPath} is valid. Commands a real run would execute:`);
    for (const step of steps) {
      commands.push(formatCommand(step.command));
      output(`  ${formatCommand(step.command)}`);
    }
    if (!options.destroy) output('  then: smoke test of the endpoint');
    const preview = await plan.preview();
    if ('skipped' in preview) {
      output(`note: preview skipped: ${preview.skipped}`);
      found.preview = `skipped: ${preview.skipped}`;
      return;
    }
    found.preview = preview.map((step) => formatCommand(step.command)).join(' && ');
    await runSteps(preview, runner, output, stepTimer(output, { total: preview.length }), []);
    return;
  }

  if (!options.yes && (options.target !== 'local' || options.destroy)) {
    const verb = options.destroy ? 'Destroy' : 'Deploy';
    if (!(await deps.confirm(`${verb} ${spec.name} (${spec.variant}) on ${spec.target}, stack ${plan.stack}? [y/N] `))) {
      throw new UsageError('not confirmed: nothing was changed (pass --yes to skip the question)');
    }
  }
  await plan.checkPrerequisites();
  // Numbered over the whole run: reading an existing stack, the target's steps, then the smoke test.
  const reuse = options.destroy ? undefined : plan.reuse;
  const smokeTested = !options.destroy && !options.registryOnly;
  const timer = stepTimer(output, { total: (reuse?.steps.length ?? 0) + steps.length + (smokeTested ? 1 : 0) });
  if (reuse !== undefined) {
    const existing = reuse.pick(await runSteps(reuse.steps, runner, output, timer, commands));
    if (existing !== undefined) {
      output(`stack ${plan.stack} already has its registry ${existing.registry ?? ''}: nothing to create`);
      Object.assign(found, existing);
      return;
    }
  }
  const results = await runSteps(steps, runner, output, timer, commands);
  if (options.destroy) return;

  const endpoint = await plan.readEndpoint(results);
  Object.assign(found, endpoint);
  if (endpoint.url === undefined) return;
  const smokeStep = timer.start(`smoke test of ${endpoint.url} (waits for /ready)`);
  const smoke = await runSmokeFor(spec, endpoint.url, options).catch((error: unknown) => {
    smokeStep.end('failed');
    throw error;
  });
  smokeStep.end(smoke.passed ? 'done' : 'failed');
  output(formatTable(smoke));
  found.smoke = smoke;
  if (!smoke.passed) throw new StepError(`the smoke test failed against ${endpoint.url} (the table above says which check and why)`);
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
