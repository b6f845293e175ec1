// The pipeline's image steps (scripts/image.ts, scripts/image/) against stand-in docker, az, gcloud and aws on
// PATH and the stand-in hub: a commit's image is built once with its model pinned to a commit, found again by
// its tag instead of rebuilt, and promoted into another registry by digest.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDeploymentSpec, parseDeploymentSpec } from '../../infra/spec';
import { buildImage, imageTag } from '../../scripts/image/build';
import { promoteImage } from '../../scripts/image/promote';
import { createRunner } from '../../scripts/deploy/runner';
import { REPO_ROOT } from '../../scripts/deploy/tools';
import { startFakeHub, type FakeHub } from '../service/models/fake-hub';
import { tinyModelDir } from '../support/models';
import { runScript } from '../support/run-script';
import { makeStandIns, type Call, type StandIns } from './deploy/stand-ins';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const STAGING = 'gpt2stagingacr.azurecr.io';
const PRODUCTION = 'gpt2productionacr.azurecr.io';

let hub: FakeHub;
beforeAll(async () => {
  hub = await startFakeHub('onnx-community/gpt2-ONNX', await tinyModelDir());
});
afterAll(async () => {
  await hub.close();
});

async function withStandIns(): Promise<{ standIns: StandIns; runner: ReturnType<typeof createRunner>; lines: string[] }> {
  const standIns = await makeStandIns(['docker', 'az', 'gcloud', 'aws']);
  const lines: string[] = [];
  const runner = createRunner({ cwd: REPO_ROOT, env: { PATH: standIns.path, STANDIN_LOG: standIns.log }, output: (line) => lines.push(line) });
  return { standIns, runner, lines };
}

const argsOf = (calls: Call[], tool: string, first: string) => calls.filter((call) => call.tool === tool && call.args[0] === first).map((call) => call.args);
const inference = () => loadDeploymentSpec(`${REPO_ROOT}/deploy/azure-inference.json`);

describe('npm run image -- build', () => {
  it('builds the gpu target with the model pinned to its commit, pushes it and names it by digest; the next run finds it instead', async () => {
    const { standIns, runner, lines } = await withStandIns();
    const request = { spec: inference(), registry: STAGING, commit: COMMIT, hub: { endpoint: hub.endpoint } };
    const first = await buildImage(request, runner, (line) => lines.push(line), {});
    const buildArgs = { MODEL_ID: 'onnx-community/gpt2-ONNX', MODEL_REVISION: hub.commit, MODEL_DTYPE: 'fp32' };
    const tagged = `${STAGING}/gpt2-openai-toolkit:${imageTag('gpu', COMMIT, buildArgs)}`;
    expect(first).toMatchObject({ built: true, target: 'gpu', tagged, modelRevision: hub.commit, buildArgs, image: expect.stringMatching(new RegExp(`^${STAGING}/gpt2-openai-toolkit@sha256:[0-9a-f]{64}$`)) });
    expect(first.tagAndDigest).toBe(`${tagged}@${first.digest}`);
    const calls = await standIns.calls();
    expect(argsOf(calls, 'az', 'acr')).toEqual([['acr', 'login', '--name', 'gpt2stagingacr']]);
    expect(argsOf(calls, 'docker', 'build')).toEqual([
      ['build', '--target', 'gpu', '--build-arg', 'MODEL_ID=onnx-community/gpt2-ONNX', '--build-arg', `MODEL_REVISION=${hub.commit}`,
        '--build-arg', 'MODEL_DTYPE=fp32', '--label', `org.opencontainers.image.revision=${COMMIT}`, '-t', tagged, '.'],
    ]);
    expect(argsOf(calls, 'docker', 'push')).toEqual([['push', tagged]]);

    const again = await buildImage(request, runner, (line) => lines.push(line), {});
    expect(again).toEqual({ ...first, built: false });
    expect(argsOf(await standIns.calls(), 'docker', 'build')).toHaveLength(1);
  });

  it('--existing-only (promotion) never builds: a commit staging was not given fails, saying so', async () => {
    const { standIns, runner } = await withStandIns();
    const attempt = buildImage({ spec: inference(), registry: STAGING, commit: COMMIT, hub: { endpoint: hub.endpoint }, existingOnly: true }, runner, () => undefined, {});
    await expect(attempt).rejects.toThrow(`deploy commit ${COMMIT} to staging first`);
    expect(argsOf(await standIns.calls(), 'docker', 'build')).toEqual([]);
  });

  it('builds the proxy as the cpu target with no model, without asking the hub', async () => {
    const { standIns, runner } = await withStandIns();
    const spec = parseDeploymentSpec({ name: 'gpt2-proxy', target: 'gcp', variant: 'proxy' });
    const registry = 'europe-west4-docker.pkg.dev/my-project/gpt2';
    const built = await buildImage({ spec, registry, commit: COMMIT, hub: { endpoint: 'http://127.0.0.1:9' } }, runner, () => undefined, {});
    expect(built).toMatchObject({ target: 'cpu', buildArgs: { MODEL_ID: '' }, built: true });
    expect(built.modelRevision).toBeUndefined();
    const calls = await standIns.calls();
    expect(calls.find((call) => call.tool === 'gcloud')?.args).toEqual(['auth', 'configure-docker', 'europe-west4-docker.pkg.dev', '--quiet']);
    expect(argsOf(calls, 'docker', 'build')[0]?.slice(0, 5)).toEqual(['build', '--target', 'cpu', '--build-arg', 'MODEL_ID=']);
  });

  it('logs docker in to ECR with the password aws prints, on stdin', async () => {
    const { standIns, runner } = await withStandIns();
    const spec = parseDeploymentSpec({ name: 'gpt2-aws', target: 'aws' });
    await buildImage({ spec, registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', commit: COMMIT, hub: { endpoint: hub.endpoint } }, runner, () => undefined, {});
    const calls = await standIns.calls();
    expect(calls.find((call) => call.tool === 'aws')?.args).toEqual(['ecr', 'get-login-password', '--region', 'us-east-1']);
    expect(calls.find((call) => call.tool === 'docker' && call.args[0] === 'login')).toMatchObject({
      args: ['login', '--username', 'AWS', '--password-stdin', '123456789012.dkr.ecr.us-east-1.amazonaws.com'],
      stdin: 'ecr-login-password',
    });
  });
});

describe('npm run image -- promote', () => {
  it('copies the image into the other registry keeping its digest and tag, or does nothing when it is there already', async () => {
    const { standIns, runner } = await withStandIns();
    const built = await buildImage({ spec: inference(), registry: STAGING, commit: COMMIT, hub: { endpoint: hub.endpoint } }, runner, () => undefined, {});
    const promoted = await promoteImage(built.tagAndDigest, PRODUCTION, runner, () => undefined);
    expect(promoted).toEqual({ image: `${PRODUCTION}/gpt2-openai-toolkit@${built.digest}`, digest: built.digest, copied: true });
    const tag = built.tagged.split(':').pop();
    expect(argsOf(await standIns.calls(), 'docker', 'buildx').filter((args) => args[2] === 'create')).toEqual([
      ['buildx', 'imagetools', 'create', '--prefer-index=false', '--tag', `${PRODUCTION}/gpt2-openai-toolkit:${tag}`, built.image],
    ]);
    // The build logged in to staging; the promotion to both registries.
    expect(argsOf(await standIns.calls(), 'az', 'acr').map((args) => args[3]).slice(1)).toEqual(['gpt2stagingacr', 'gpt2productionacr']);

    const same = await promoteImage(built.image, STAGING, runner, () => undefined);
    expect(same).toEqual({ image: built.image, digest: built.digest, copied: false });
  });

  it('refuses a source without a digest', async () => {
    const { runner } = await withStandIns();
    await expect(promoteImage(`${STAGING}/gpt2-openai-toolkit:latest`, PRODUCTION, runner, () => undefined)).rejects.toThrow('names no digest');
  });
});

describe('the command line', () => {
  it('prints the image as JSON and exits 0; a model revision the hub does not know exits 1 naming it; no action exits 2', async () => {
    const standIns = await makeStandIns(['docker', 'az']);
    const env = { PATH: standIns.path, STANDIN_LOG: standIns.log, HOME: process.env.HOME ?? '', HF_ENDPOINT: hub.endpoint };
    const ok = await runScript('image', ['build', '--spec', 'deploy/azure-inference.json', '--registry', STAGING, '--commit', COMMIT], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/"image": "gpt2stagingacr\.azurecr\.io\/gpt2-openai-toolkit@sha256:[0-9a-f]{64}"/);
    const spec = join(await mkdtemp(join(tmpdir(), 'image-spec-')), 'azure-v9.json');
    await writeFile(spec, JSON.stringify({ name: 'gpt2-azure', target: 'azure', model: { revision: 'v9' } }));
    const [unknown, usage] = await Promise.all([
      runScript('image', ['build', '--spec', spec, '--registry', STAGING, '--commit', COMMIT], env),
      runScript('image', ['--registry', STAGING], env),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('cannot pin model.revision "v9" of onnx-community/gpt2-ONNX');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('say build or promote');
  }, 120_000);
});
