// Image references in a registry: parsing REPOSITORY[:TAG][@sha256:DIGEST], logging docker in to the clouds'
// registries with their CLIs, and reading the digest a tag or digest points at (docker buildx imagetools).
import { PrerequisiteError, StepError } from '../deploy/errors';
import { formatCommand, lastLine, type Command, type CommandRunner, type Output } from '../deploy/runner';
import { LOGIN_HINTS } from '../deploy/tools';

/** The repository name every image of this project has inside a registry. */
export const IMAGE_NAME = 'gpt2-openai-toolkit';

export interface ImageRef {
  /** registry host and path, e.g. `gpt2registry.azurecr.io/gpt2-openai-toolkit`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const REFERENCE = /^([a-z0-9.-]+(?::\d+)?(?:\/[a-z0-9._/-]+)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/;

/** `REGISTRY/gpt2-openai-toolkit` for a registry (host with an optional path, as the stacks output them). */
export function repositoryIn(registry: string): string {
  return `${registry.replace(/\/+$/, '')}/${IMAGE_NAME}`;
}

/** Throws a StepError naming `what` when `text` is no full reference with a registry host. */
export function parseImageRef(text: string, what: string): ImageRef {
  const match = REFERENCE.exec(text);
  const repository = match?.[1];
  if (repository === undefined || !/[.:]/.test(repository.split('/')[0] ?? '') || !repository.includes('/')) {
    throw new StepError(`${what} ${JSON.stringify(text)} is not an image reference with a registry host (REGISTRY/NAME[:TAG][@sha256:DIGEST])`);
  }
  return { repository, ...(match?.[2] === undefined ? {} : { tag: match[2] }), ...(match?.[3] === undefined ? {} : { digest: match[3] }) };
}

export const byDigest = (repository: string, digest: string): string => `${repository}@${digest}`;
export const byTag = (repository: string, tag: string): string => `${repository}:${tag}`;

interface LoginStep {
  readonly command: Command;
  /** The command prints a password that the next step reads on stdin. */
  readonly printsPassword?: boolean;
  readonly readsPassword?: boolean;
}

/** How docker logs in to `host` with the cloud's CLI; empty for other registries (log in with docker login yourself). */
export function loginSteps(host: string): LoginStep[] {
  const acr = /^([a-z0-9]+)\.azurecr\.io$/.exec(host);
  if (acr !== null) return [{ command: { tool: 'az', args: ['acr', 'login', '--name', acr[1]!] } }];
  if (/(^|\.)(pkg\.dev|gcr\.io)$/.test(host)) return [{ command: { tool: 'gcloud', args: ['auth', 'configure-docker', host, '--quiet'] } }];
  const ecr = /^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (ecr !== null) {
    return [
      { command: { tool: 'aws', args: ['ecr', 'get-login-password', '--region', ecr[1]!] }, printsPassword: true },
      { command: { tool: 'docker', args: ['login', '--username', 'AWS', '--password-stdin', host] }, readsPassword: true },
    ];
  }
  return [];
}

/** Logs docker in to the registry of each repository (once per host). */
export async function logIn(repositories: readonly string[], runner: CommandRunner, output: Output): Promise<void> {
  const hosts = [...new Set(repositories.map((repository) => repository.split('/')[0]!))];
  for (const host of hosts) {
    const steps = loginSteps(host);
    if (steps.length === 0) output(`note: no cloud CLI login for ${host}: docker uses the credentials it has (docker login ${host})`);
    let password: string | undefined;
    for (const step of steps) {
      output(`$ ${formatCommand(step.command)}`);
      const result = await runner(step.command, { quiet: true, ...(step.readsPassword && password !== undefined ? { input: password } : {}) });
      if (result.code !== 0) {
        const said = lastLine(result.stderr);
        throw new PrerequisiteError(`cannot log docker in to ${host} (\`${formatCommand(step.command)}\`: ${said}): ${(LOGIN_HINTS as Readonly<Record<string, string>>)[step.command.tool] ?? 'check the credentials'}`);
      }
      if (step.printsPassword) password = result.stdout.trim();
    }
  }
}

/** What registries answer for a reference they do not hold. */
const NOT_FOUND = /not found|manifest unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|does not exist/i;

/** The digest `ref` (a tag or a digest reference) points at in its registry; undefined when the registry has no such image. */
export async function digestOf(ref: string, runner: CommandRunner): Promise<string | undefined> {
  const command: Command = { tool: 'docker', args: ['buildx', 'imagetools', 'inspect', ref, '--format', '{{json .Manifest}}'] };
  const result = await runner(command, { quiet: true });
  if (result.code !== 0) {
    if (NOT_FOUND.test(result.stderr)) return undefined;
    throw new StepError(`\`${formatCommand(command)}\` failed: ${lastLine(result.stderr)}`);
  }
  let digest: unknown;
  try {
    digest = (JSON.parse(result.stdout) as { digest?: unknown }).digest;
  } catch {
    throw new StepError(`\`${formatCommand(command)}\` did not print a manifest descriptor: ${result.stdout.slice(0, 200)}`);
  }
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new StepError(`\`${formatCommand(command)}\` printed no sha256 digest: ${result.stdout.slice(0, 200)}`);
  return digest;
}
