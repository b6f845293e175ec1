// One image per commit: the Dockerfile target a spec runs, with its model pinned to the commit the hub
// resolves `model.revision` to, tagged by the source commit and build arguments, pushed once and named by
// digest. A tag already in the registry is not built again; `existingOnly` (promotion) never builds.
import { createHash } from 'node:crypto';
import type { DeploymentSpec } from '../../infra/spec';
import { resolveCommit, type HubOptions } from '../../service/models/hub-client';
import { ModelFetchError } from '../../service/models/errors';
import { StepError } from '../deploy/errors';
import { formatCommand, type Command, type CommandRunner, type Output } from '../deploy/runner';
import { byDigest, byTag, digestOf, logIn, repositoryIn } from './registry';

export type DockerTarget = 'gpu' | 'cpu';

export interface BuildRequest {
  readonly spec: DeploymentSpec;
  /** Registry to push to (host and path), e.g. the stack's `registry` output. */
  readonly registry: string;
  /** The source commit the image is built from (CI: GITHUB_SHA). */
  readonly commit: string;
  readonly hub: HubOptions;
  /** Only look the commit's image up (promotion): fail when it was never built. @default false */
  readonly existingOnly?: boolean;
}

export interface BuiltImage {
  /** REGISTRY/gpt2-openai-toolkit@sha256:..., what a deploy gets. */
  readonly image: string;
  /** The same image by its tag. */
  readonly tagged: string;
  /** `tagged@digest`: what `npm run image -- promote --from` takes, so the copy keeps the tag. */
  readonly tagAndDigest: string;
  readonly digest: string;
  /** false when the registry already held this commit's image. */
  readonly built: boolean;
  readonly target: DockerTarget;
  readonly buildArgs: Readonly<Record<string, string>>;
  /** Inference: the model commit baked in (MODEL_REVISION), for the deploy's --model-revision. */
  readonly modelRevision?: string;
}

/** The GPU image for inference on a GPU; the CPU image for the proxy and CPU-only inference. */
export function dockerTargetFor(spec: DeploymentSpec): DockerTarget {
  return spec.variant === 'inference' && spec.compute.gpuType !== 'none' ? 'gpu' : 'cpu';
}

/** `gpu-<commit 12>-<8 hex of the build arguments>`: one tag per source commit and what was baked in. */
export function imageTag(target: DockerTarget, commit: string, buildArgs: Readonly<Record<string, string>>): string {
  const args = createHash('sha256').update(JSON.stringify(Object.entries(buildArgs).sort())).digest('hex');
  return `${target}-${commit.slice(0, 12)}-${args.slice(0, 8)}`;
}

async function modelBuildArgs(spec: DeploymentSpec, hub: HubOptions, output: Output): Promise<Record<string, string>> {
  // The proxy holds no model: nothing to bake in.
  if (spec.variant === 'proxy') return { MODEL_ID: '' };
  try {
    const { repo, commit } = await resolveCommit(hub, spec.model.id, spec.model.revision);
    output(`model ${repo}@${spec.model.revision} is commit ${commit}`);
    // The dtype (or file) picks which graph is fetched into the image, so it is part of what was baked in.
    return { MODEL_ID: spec.model.id, MODEL_REVISION: commit, MODEL_DTYPE: spec.model.dtype, ...(spec.model.file === undefined ? {} : { MODEL_FILE: spec.model.file }) };
  } catch (error) {
    if (error instanceof ModelFetchError) throw new StepError(`cannot pin model.revision "${spec.model.revision}" of ${spec.model.id}: ${error.message}`);
    throw error;
  }
}

async function run(command: Command, runner: CommandRunner, output: Output, hint: string): Promise<void> {
  output(`$ ${formatCommand(command)}`);
  const result = await runner(command);
  if (result.code !== 0) throw new StepError(`\`${formatCommand(command)}\` failed with exit code ${result.code} (its output is above): ${hint}`);
}

export async function buildImage(request: BuildRequest, runner: CommandRunner, output: Output, env: NodeJS.ProcessEnv): Promise<BuiltImage> {
  const { spec } = request;
  if (!/^[0-9a-f]{40}$/.test(request.commit)) throw new StepError(`--commit ${request.commit} is not a full 40-digit commit id`);
  const target = dockerTargetFor(spec);
  const buildArgs = await modelBuildArgs(spec, request.hub, output);
  const repository = repositoryIn(request.registry);
  const tagged = byTag(repository, imageTag(target, request.commit, buildArgs));
  const found = (digest: string, built: boolean): BuiltImage => ({
    image: byDigest(repository, digest),
    tagged,
    tagAndDigest: `${tagged}@${digest}`,
    digest,
    built,
    target,
    buildArgs,
    ...(buildArgs.MODEL_REVISION === undefined ? {} : { modelRevision: buildArgs.MODEL_REVISION }),
  });

  await logIn([repository], runner, output);
  const existing = await digestOf(tagged, runner);
  if (existing !== undefined) {
    output(`${tagged} is in the registry already (${existing}): not built again`);
    return found(existing, false);
  }
  if (request.existingOnly) {
    throw new StepError(`${tagged} is not in ${request.registry}: promotion deploys the image staging was given, so deploy commit ${request.commit} to staging first`);
  }
  const hfEndpoint = env.HF_ENDPOINT ? ['--build-arg', `HF_ENDPOINT=${env.HF_ENDPOINT}`] : [];
  // A private model repository's token reaches the fetch as a BuildKit secret, never as a layer or an argument.
  const token = env.HF_TOKEN ? ['--secret', 'id=hf_token,env=HF_TOKEN'] : [];
  const build: Command = {
    tool: 'docker',
    args: [
      'build', '--target', target,
      ...Object.entries(buildArgs).flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]),
      ...hfEndpoint,
      ...token,
      '--label', `org.opencontainers.image.revision=${request.commit}`,
      '-t', tagged, '.',
    ],
  };
  await run(build, runner, output, 'the Dockerfile build failed; `docker build` the same target locally to see why');
  await run({ tool: 'docker', args: ['push', tagged] }, runner, output, `can this identity push to ${request.registry}?`);
  const pushed = await digestOf(tagged, runner);
  if (pushed === undefined) throw new StepError(`${tagged} was pushed but the registry does not list it`);
  return found(pushed, true);
}
