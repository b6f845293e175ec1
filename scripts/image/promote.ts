// Promotion: the image staging ran, by digest, into another environment's registry without a rebuild.
// `docker buildx imagetools create --prefer-index=false` copies the manifest as it is, so the digest stays
// the same, and the copy is checked to have it.
import { StepError } from '../deploy/errors';
import { formatCommand, type Command, type CommandRunner, type Output } from '../deploy/runner';
import { byDigest, byTag, digestOf, logIn, parseImageRef, repositoryIn } from './registry';

export interface PromotedImage {
  /** REGISTRY/gpt2-openai-toolkit@sha256:..., the same digest as the source. */
  readonly image: string;
  readonly digest: string;
  /** false when the source already was in that registry. */
  readonly copied: boolean;
}

/** `from` is REPOSITORY[:TAG]@sha256:DIGEST (npm run image -- build prints it as `tagged@digest`). */
export async function promoteImage(from: string, registry: string, runner: CommandRunner, output: Output): Promise<PromotedImage> {
  const source = parseImageRef(from, '--from');
  if (source.digest === undefined) throw new StepError(`--from ${from} names no digest: promote REPOSITORY@sha256:DIGEST, the image staging was deployed with`);
  const repository = repositoryIn(registry);
  if (source.repository === repository) {
    output(`${from} is in ${registry} already: nothing to copy`);
    return { image: byDigest(repository, source.digest), digest: source.digest, copied: false };
  }
  await logIn([source.repository, repository], runner, output);
  const destination = byTag(repository, source.tag ?? `sha256-${source.digest.slice('sha256:'.length, 'sha256:'.length + 12)}`);
  const copy: Command = {
    tool: 'docker',
    args: ['buildx', 'imagetools', 'create', '--prefer-index=false', '--tag', destination, byDigest(source.repository, source.digest)],
  };
  output(`$ ${formatCommand(copy)}`);
  const result = await runner(copy);
  if (result.code !== 0) {
    throw new StepError(
      `\`${formatCommand(copy)}\` failed with exit code ${result.code}: this environment's identity must be able to read ${source.repository} and push to ${registry}`,
    );
  }
  const copied = await digestOf(destination, runner);
  if (copied !== source.digest) throw new StepError(`${destination} has digest ${copied ?? 'none'} after the copy, not ${source.digest}: refusing to deploy a different image`);
  return { image: byDigest(repository, source.digest), digest: source.digest, copied: true };
}
