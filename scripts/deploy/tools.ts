// Where the deploy command finds its tools (PATH, then this project's node_modules/.bin) and what it tells
// you when one is missing or not logged in. Tests put stand-ins first on PATH.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

export type ToolName = 'cdk' | 'pulumi' | 'docker' | 'docker-compose' | 'aws' | 'az' | 'gcloud';

/** How to get each tool, quoted in the error when it is missing. */
export const INSTALL_HINTS: Readonly<Record<ToolName, string>> = {
  cdk: 'run `npm ci` in the repository (aws-cdk is a dev dependency; npm run puts node_modules/.bin on PATH)',
  pulumi:
    'install the Pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` (or see https://www.pulumi.com/docs/iac/download-install/), then `pulumi login`',
  docker:
    'install Docker Engine or Docker Desktop with the compose plugin (https://docs.docker.com/compose/install/); ' +
    'on Debian without Docker, `sudo bash scripts/containers/setup.sh` sets up podman with docker-compose',
  'docker-compose': 'install the compose plugin (`docker compose`) or docker-compose: https://docs.docker.com/compose/install/',
  aws: 'install the AWS CLI (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)',
  az: 'install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli), then `az login`',
  gcloud: 'install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), then `gcloud auth login`',
};

/** How to log in, quoted when a tool is installed but has no credentials. */
export const LOGIN_HINTS = {
  pulumi:
    'log in to a state backend: `pulumi login` (Pulumi Cloud; in CI pulumi/auth-actions or PULUMI_ACCESS_TOKEN), or a ' +
    'self-managed one: `pulumi login file://~/.pulumi-state`, `pulumi login azblob://CONTAINER`, `pulumi login gs://BUCKET`',
  aws:
    'give the AWS CLI and CDK credentials: `aws configure sso` then `aws sso login --profile P` and `export AWS_PROFILE=P` ' +
    '(or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); in GitHub Actions aws-actions/configure-aws-credentials with role-to-assume',
  az: 'log the Azure CLI in: `az login` (in GitHub Actions azure/login with client-id, tenant-id and subscription-id)',
  gcloud: 'log the Google Cloud CLI in: `gcloud auth login` (in GitHub Actions google-github-actions/auth)',
} as const;

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The absolute path of `tool`: the first match on PATH, else (for cdk) this project's node_modules/.bin.
 * undefined when there is none.
 */
export function resolveTool(tool: ToolName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter((dir) => dir.length > 0);
  if (tool === 'cdk') dirs.push(join(REPO_ROOT, 'node_modules', '.bin'));
  for (const dir of dirs) {
    const candidate = join(dir, tool);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
