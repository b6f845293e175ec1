// The deploy command (scripts/deploy.ts, scripts/deploy/) against stand-in cdk, pulumi, docker, aws, az and
// gcloud executables first on PATH that "deploy" a real service (the tiny model on an ephemeral port, keyed
// with the key the stand-in secret stores hold): each target gets the right commands, arguments and spec, the
// URL and the API key's secret come from the tools' outputs, the key is read with the cloud's CLI and the smoke
// test runs with it, and every failure ends with a message that says what to do and its exit code.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDeployArgs, type DeployOptions } from '../../scripts/deploy/options';
import { runDeploy } from '../../scripts/deploy/run';
import type { DeployResult } from '../../scripts/deploy/summary';
import { tinyModelDir } from '../support/models';
import { runScript } from '../support/run-script';
import { startService, waitForReady, type ServiceProcess } from '../support/service-process';
import { makeStandIns, STANDIN_API_KEY, type Call, type StandInTool } from './deploy/stand-ins';

const ALL_TOOLS: StandInTool[] = ['cdk', 'pulumi', 'docker', 'aws', 'az', 'gcloud'];

let service: ServiceProcess;
let serviceUrl: string;
let broken: Server;
let brokenUrl: string;

beforeAll(async () => {
  service = startService({ MODEL_DIR: await tinyModelDir(), API_KEYS: STANDIN_API_KEY });
  serviceUrl = await service.listening;
  await waitForReady(serviceUrl);
  // An endpoint that deployed "fine" but answers 500 to everything.
  broken = createServer((_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' });
    response.end('{"error":{"message":"boom","type":"server_error","param":null,"code":"internal_error"}}');
  });
  await new Promise<void>((done) => broken.listen(0, '127.0.0.1', done));
  brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
});

afterAll(async () => {
  service.child.kill('SIGTERM');
  await service.exited;
  await new Promise<void>((done) => broken.close(() => done()));
});

function options(argv: string[]): DeployOptions {
  const parsed = parseDeployArgs(argv.includes('--timeout') ? argv : [...argv, '--timeout', '5'], {});
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.options;
}

interface Run {
  readonly result: DeployResult;
  readonly calls: Call[];
  readonly output: string;
}

async function deploy(
  argv: string[],
  setup: { tools?: StandInTool[]; env?: Record<string, string>; confirm?: boolean | ((question: string) => boolean) } = {},
): Promise<Run> {
  const standIns = await makeStandIns(setup.tools ?? ALL_TOOLS);
  const lines: string[] = [];
  const result = await runDeploy(options(argv), {
    env: { PATH: standIns.path, STANDIN_LOG: standIns.log, STANDIN_URL: serviceUrl, ...setup.env },
    output: (line) => lines.push(line),
    confirm: async (question) => (typeof setup.confirm === 'function' ? setup.confirm(question) : (setup.confirm ?? false)),
  });
  return { result, calls: await standIns.calls(), output: lines.join('\n') };
}

const argsOf = (calls: Call[], tool: StandInTool) => calls.filter((call) => call.tool === tool).map((call) => call.args);

describe('deploy to aws (CDK)', () => {
  it('checks the credentials, runs cdk deploy on the spec stack, reads EndpointUrl and the API key from its outputs and smoke-tests it', async () => {
    const json = join(await mkdtemp(join(tmpdir(), 'deploy-json-')), 'out.json');
    const { result, calls, output } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes', '--json', json]);
    expect(result.error).toBeUndefined();
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:gpt2-aws-api-keys-AbCdEf';
    expect(argsOf(calls, 'aws')).toEqual([
      ['sts', 'get-caller-identity', '--output', 'json'],
      ['secretsmanager', 'get-secret-value', '--secret-id', arn, '--query', 'SecretString', '--output', 'text'],
    ]);
    const cdk = argsOf(calls, 'cdk');
    expect(cdk).toHaveLength(1);
    expect(cdk[0]?.slice(0, 7)).toEqual(['deploy', 'gpt2-aws', '-c', 'spec=deploy/aws-inference.json', '--require-approval', 'never', '--outputs-file']);
    expect(calls.find((call) => call.tool === 'cdk')?.spec).toMatchObject({ name: 'gpt2-aws', target: 'aws' });
    expect(result).toMatchObject({ ok: true, exitCode: 0, stack: 'gpt2-aws', url: serviceUrl });
    expect(result.smoke?.passed).toBe(true);
    // The service requires the key: the authenticated checks passing means the key read from the secret reached the smoke test.
    expect(result.smoke?.checks.map((check) => check.name)).toContain('auth: wrong key');
    expect(output).toContain('[cdk]  ✅  gpt2-aws');
    // Which step it is on and how long each took: cdk deploy, then the smoke test.
    expect(output).toMatch(/^==> \[1\/2\] .+\n\$ cdk deploy gpt2-aws /m);
    expect(output).toMatch(/^<== \[1\/2\] .+: done in \d+\.\d s$/m);
    expect(output).toMatch(new RegExp(`^==> \\[2/2\\] smoke test of ${serviceUrl} \\(waits for /ready\\)$`, 'm'));
    expect(output).toMatch(/^<== \[2\/2\] smoke test of .+: done in \d+\.\d s$/m);
    const text = await readFile(json, 'utf8');
    const written = JSON.parse(text) as DeployResult;
    expect(written).toMatchObject({ ok: true, target: 'aws', url: serviceUrl, smoke: { passed: true }, apiKeys: { where: `Secrets Manager secret ${arn}` } });
    expect(text).not.toContain(STANDIN_API_KEY);
    expect(output).not.toContain(STANDIN_API_KEY);
  });

  it('--environment names the stack NAME-ENV and passes -c environment=ENV to cdk', async () => {
    const { result, calls } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--environment', 'staging', '--yes']);
    expect(result.error).toBeUndefined();
    expect(argsOf(calls, 'cdk')[0]?.slice(0, 6)).toEqual(['deploy', 'gpt2-aws-staging', '-c', 'spec=deploy/aws-inference.json', '-c', 'environment=staging']);
    expect(result).toMatchObject({ ok: true, stack: 'gpt2-aws-staging', apiKeys: { where: expect.stringContaining('gpt2-aws-staging-api-keys') } });
    const mismatch = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--environment', 'production', '--stack', 'gpt2-aws', '--yes']);
    expect(mismatch.result).toMatchObject({ exitCode: 2, error: expect.stringContaining('(gpt2-aws-production)') });
  });

  it('fails with exit 1 and what to do when the API key secret cannot be read, before the smoke test', async () => {
    const { result } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes'], { env: { STANDIN_SECRET_DENIED: '1' } });
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/cannot read the API key from Secrets Manager secret arn:aws:secretsmanager:\S+ .*AccessDeniedException.*--api-key/);
    expect(result.smoke).toBeUndefined();
  });

  it('uses --api-key as it is and reads no secret', async () => {
    const { result, calls } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes', '--api-key', STANDIN_API_KEY]);
    expect(result.smoke?.passed).toBe(true);
    expect(argsOf(calls, 'aws').map((args) => args[0])).toEqual(['sts']);
  });

  it('tears the stack down with cdk destroy --force and runs no smoke test', async () => {
    const { result, calls } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-proxy.json', '--destroy', '--yes']);
    expect(argsOf(calls, 'cdk')).toEqual([['destroy', 'gpt2-aws-proxy', '-c', 'spec=deploy/aws-proxy.json', '--force']]);
    expect(result).toMatchObject({ ok: true, exitCode: 0, action: 'destroy' });
    expect(result.smoke).toBeUndefined();
  });

  it('--dry-run prints the deploy command, where the API key will live, the URL and the cost, and runs cdk synth instead, exit 0', async () => {
    const { result, calls, output } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--dry-run']);
    expect(argsOf(calls, 'cdk')).toEqual([['synth', 'gpt2-aws', '-c', 'spec=deploy/aws-inference.json', '--quiet']]);
    expect(argsOf(calls, 'aws')).toEqual([]);
    expect(output).toMatch(/ {2}cdk deploy gpt2-aws -c spec=deploy\/aws-inference\.json --require-approval never --outputs-file \S+cdk-outputs\.json/);
    expect(output).toContain('api key: a Secrets Manager secret the stack creates with a generated key; stack output ApiKeysSecretArn names it; ' +
      'read it with: aws secretsmanager get-secret-value --secret-id ARN --query SecretString --output text');
    expect(output).toMatch(/^url: http:\/\/LOAD_BALANCER_DNS_NAME \(internal load balancer: reachable from inside the VPC only\) \(no certificate/m);
    expect(output).toMatch(/^cost: 1-4 x g4dn\.xlarge on-demand at \$0\.526\/h each = \$0\.53-\$2\.10\/h \(AWS on-demand list price, Linux, us-east-1, as of 2026-11-29/m);
    expect(result).toMatchObject({ ok: true, exitCode: 0, action: 'dry-run', cost: expect.stringContaining('$0.53-$2.10/h'), plannedUrl: expect.stringContaining('LOAD_BALANCER_DNS_NAME') });
  });

  it('says how to log in when the AWS credentials are missing (exit 3), before running cdk', async () => {
    const { result, calls } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes'], { env: { STANDIN_LOGGED_OUT: '1' } });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('Unable to locate credentials');
    expect(result.error).toContain('aws sso login');
    expect(argsOf(calls, 'cdk')).toEqual([]);
  });

  it('reports a failing cdk deploy with its exit code (exit 1)', async () => {
    const { result, output } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes'], { env: { STANDIN_FAIL: 'cdk' } });
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/^`cdk deploy gpt2-aws .*` failed with exit code 1/);
    expect(result.error).toContain('npx cdk bootstrap aws://ACCOUNT/us-east-1');
    expect(output).toContain('[cdk] ❌  gpt2-aws failed');
    expect(result.smoke).toBeUndefined();
  });

  it('fails with exit 1 and the smoke report when the deployed endpoint answers 500', async () => {
    const { result } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--yes', '--timeout', '1'], { env: { STANDIN_URL: brokenUrl } });
    expect(result.exitCode).toBe(1);
    expect(result.url).toBe(brokenUrl);
    expect(result.smoke?.passed).toBe(false);
    expect(result.smoke?.checks[0]).toMatchObject({ name: 'ready', status: 'fail' });
    expect(result.error).toContain('smoke test failed');
  });

  it('rejects --stack other than the spec name (exit 2)', async () => {
    const { result, calls } = await deploy(['--target', 'aws', '--spec', 'deploy/aws-inference.json', '--stack', 'other', '--yes']);
    expect(result.exitCode).toBe(2);
    expect(result.error).toContain('"name" (gpt2-aws)');
    expect(calls).toEqual([]);
  });
});

describe('deploy to azure and gcp (Pulumi)', () => {
  it('selects (or creates) the stack named after the spec file, runs pulumi up with the spec and reads url from stack output', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--yes']);
    expect(result.error).toBeUndefined();
    expect(argsOf(calls, 'pulumi')).toEqual([
      ['whoami', '--non-interactive'],
      ['stack', 'select', '--create', '--stack', 'azure-inference', '--non-interactive'],
      ['up', '--yes', '--stack', 'azure-inference', '--non-interactive', '--config', 'spec=deploy/azure-inference.json', '--config', 'registryOnly=false'],
      ['stack', 'output', '--json', '--stack', 'azure-inference', '--non-interactive'],
    ]);
    expect(result).toMatchObject({ ok: true, stack: 'azure-inference', url: serviceUrl, registry: 'gpt2registry.azurecr.io' });
    expect(result.smoke?.passed).toBe(true);
    const az = argsOf(calls, 'az');
    expect(az.filter((args) => args[1] === 'show').map((args) => args[3])).toEqual(expect.arrayContaining(['Microsoft.App', 'Microsoft.KeyVault', 'Microsoft.ContainerRegistry']));
    expect(az.at(-1)).toEqual(['keyvault', 'secret', 'show', '--id', 'https://gpt2kv.vault.azure.net/secrets/api-keys', '--query', 'value', '-o', 'tsv']);
    expect(result.apiKeys).toEqual({
      where: 'Key Vault secret https://gpt2kv.vault.azure.net/secrets/api-keys',
      readCommand: 'az keyvault secret show --id https://gpt2kv.vault.azure.net/secrets/api-keys --query value -o tsv',
    });
  });

  it('registers the resource providers a fresh subscription lacks with --yes, before pulumi up', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--yes'], {
      env: { STANDIN_AZ_UNREGISTERED: 'Microsoft.App,Microsoft.KeyVault' },
    });
    expect(result.error).toBeUndefined();
    const order = calls.map((call) => `${call.tool} ${call.args.slice(0, 2).join(' ')}`);
    expect(calls.filter((call) => call.tool === 'az' && call.args[1] === 'register').map((call) => call.args)).toEqual([
      ['provider', 'register', '--namespace', 'Microsoft.App', '--wait'],
      ['provider', 'register', '--namespace', 'Microsoft.KeyVault', '--wait'],
    ]);
    expect(order.lastIndexOf('az provider register')).toBeLessThan(order.indexOf('pulumi up --yes'));
  });

  it('without --yes and consent, fails first with the exact az provider register commands (exit 3)', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json'], {
      env: { STANDIN_AZ_UNREGISTERED: 'Microsoft.OperationalInsights' },
      confirm: (question) => question.startsWith('Deploy'),
    });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('MissingSubscriptionRegistration');
    expect(result.error).toContain('  az provider register --namespace Microsoft.OperationalInsights --wait');
    expect(calls.some((call) => call.args[1] === 'register' || call.args[0] === 'up')).toBe(false);
  });

  it('says how to get az when it is missing for an Azure deploy (exit 3)', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--yes'], { tools: ['pulumi'] });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('az not found');
    expect(argsOf(calls, 'pulumi')).toEqual([['whoami', '--non-interactive']]);
  });

  it('--environment picks the stack FILE-ENV, and GCP reads the key from Secret Manager with its project', async () => {
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--environment', 'production', '--yes']);
    expect(result.error).toBeUndefined();
    expect(calls.find((call) => call.args[0] === 'up')?.args).toContain('gcp-inference-production');
    expect(argsOf(calls, 'gcloud')).toEqual([['secrets', 'versions', 'access', 'latest', '--secret', 'gpt2-gcp-api-keys', '--project', 'my-project']]);
    expect(result).toMatchObject({ stack: 'gcp-inference-production', smoke: { passed: true } });
  });

  it('--image deploys a copy of the spec naming that image, on the --stack given', async () => {
    const image = 'europe-west4-docker.pkg.dev/p/gpt2/gpt2-openai-toolkit:gpu-abc123';
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--stack', 'gcp-inference-staging', '--image', image, '--yes']);
    expect(result.ok).toBe(true);
    const up = calls.find((call) => call.tool === 'pulumi' && call.args[0] === 'up');
    expect(up?.args).toContain('gcp-inference-staging');
    expect(up?.spec).toMatchObject({ name: 'gpt2-gcp', target: 'gcp', image });
  });

  it('--model-revision pins the copy\'s model.revision to the commit the image holds', async () => {
    const image = `europe-west4-docker.pkg.dev/p/gpt2/gpt2-openai-toolkit@sha256:${'a'.repeat(64)}`;
    const revision = 'b'.repeat(40);
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--image', image, '--model-revision', revision, '--yes']);
    expect(result.ok).toBe(true);
    expect(calls.find((call) => call.args[0] === 'up')?.spec).toMatchObject({ image, model: { id: 'onnx-community/gpt2-ONNX', revision, servedName: 'gpt2' } });
    expect(() => parseDeployArgs(['--target', 'gcp', '--spec', 'x.json', '--model-revision', revision], {})).toThrow(/goes with --image/);
    expect(() => parseDeployArgs(['--target', 'gcp', '--spec', 'x.json', '--image', image, '--model-revision', 'main'], {})).toThrow(/40-digit commit id/);
  });

  it('--registry-only on a new stack updates with registryOnly=true and returns the registry without a smoke test', async () => {
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-proxy.json', '--registry-only', '--yes']);
    expect(argsOf(calls, 'pulumi').map((args) => args.slice(0, 2).join(' '))).toEqual([
      'whoami --non-interactive',
      'stack select',
      'stack output',
      'stack select',
      'up --yes',
      'stack output',
    ]);
    expect(calls.find((call) => call.args[0] === 'up')?.args).toContain('registryOnly=true');
    expect(result).toMatchObject({ ok: true, action: 'registry-only', registry: 'gpt2registry.azurecr.io', variant: 'proxy' });
    expect(result.url).toBeUndefined();
    expect(result.smoke).toBeUndefined();
  });

  it('--registry-only on a deployed stack only reads its registry: a registryOnly update would delete the service', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--registry-only', '--yes'], {
      env: { STANDIN_DEPLOYED: '1' },
    });
    expect(calls.some((call) => call.args[0] === 'up')).toBe(false);
    expect(result).toMatchObject({ ok: true, action: 'registry-only', registry: 'gpt2registry.azurecr.io' });
  });

  it('tears the stack down with pulumi destroy --yes', async () => {
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--destroy', '--yes']);
    expect(argsOf(calls, 'pulumi')).toEqual([['whoami', '--non-interactive'], ['destroy', '--yes', '--stack', 'gcp-inference', '--non-interactive']]);
    expect(result.ok).toBe(true);
  });

  it('--dry-run previews when pulumi is logged in', async () => {
    const { result, calls, output } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-proxy.json', '--dry-run']);
    expect(argsOf(calls, 'pulumi').map((args) => args[0])).toEqual(['whoami', 'stack', 'preview']);
    expect(output).toContain('api key: the proxy keeps its client keys hashed (PROXY_KEYS)');
    expect(result).toMatchObject({ ok: true, exitCode: 0 });
  });

  it.each([
    ['azure', 'https://gpt2-azure.ENVIRONMENT_DEFAULT_DOMAIN', 'az keyvault secret show --id URI --query value -o tsv', /^cost: 0-2 x Consumption-GPU-NC8as-T4: 8 vCPU \+ 56 GiB at \$1\.296\/h each = \$0\.00-\$2\.59\/h .*GPU meter/m],
    ['gcp', 'https://gpt2-gcp-PROJECT_NUMBER.europe-west4.run.app', 'gcloud secrets versions access latest --secret SECRET --project PROJECT', /^cost: 0-2 x 1 x nvidia-l4 \+ 5 vCPU \+ 16\.5 GiB \(sidecar included\) at \$1\.115\/h each = \$0\.00-\$2\.23\/h/m],
  ])('--dry-run on %s prints where the API key lives, the HTTPS URL and the hourly cost line', async (target, url, read, cost) => {
    const { result, output } = await deploy(['--target', target, '--spec', `deploy/${target}-inference.json`, '--dry-run'], { tools: [] });
    expect(output).toContain(`url: ${url} `);
    expect(output).toContain(`read it with: ${read}`);
    expect(output).toMatch(cost);
    expect(result.ok).toBe(true);
  });

  it('--dry-run without pulumi prints the commands, notes the skipped preview and exits 0', async () => {
    const { result, output } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--dry-run'], { tools: [] });
    expect(output).toContain('pulumi up --yes --stack gcp-inference --non-interactive --config spec=deploy/gcp-inference.json --config registryOnly=false');
    expect(output).toContain('note: preview skipped: pulumi not found on PATH');
    expect(result).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('says how to install pulumi when it is missing (exit 3)', async () => {
    const { result } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--yes'], { tools: ['cdk'] });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('https://get.pulumi.com');
  });

  it('says how to log in when pulumi whoami fails (exit 3), before changing anything', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--yes'], { env: { STANDIN_LOGGED_OUT: '1' } });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('PULUMI_ACCESS_TOKEN must be set');
    expect(result.error).toContain('pulumi login');
    expect(argsOf(calls, 'pulumi')).toEqual([['whoami', '--non-interactive']]);
  });

  it('reports a failing pulumi up (exit 1) and reads no outputs', async () => {
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json', '--yes'], { env: { STANDIN_FAIL: 'pulumi' } });
    expect(result.exitCode).toBe(1);
    expect(result.error).toContain('`pulumi up --yes --stack gcp-inference');
    expect(result.error).toContain('gcloud auth application-default login');
    expect(calls.some((call) => call.args[1] === 'output')).toBe(false);
  });

  it('changes nothing when the confirmation is declined (exit 2)', async () => {
    const { result, calls } = await deploy(['--target', 'azure', '--spec', 'deploy/azure-inference.json'], { confirm: false });
    expect(result.exitCode).toBe(2);
    expect(result.error).toContain('--yes');
    expect(calls).toEqual([]);
  });
});

describe('deploy to local (compose.yaml)', () => {
  it('runs docker compose up -d --build gpt2, reads the port from compose port and smoke-tests it', async () => {
    const { result, calls } = await deploy(['--target', 'local', '--spec', 'deploy/local-inference.json', '--api-key', STANDIN_API_KEY]);
    expect(result.error).toBeUndefined();
    expect(argsOf(calls, 'docker')).toEqual([
      ['compose', 'version'],
      ['compose', 'up', '-d', '--build', 'gpt2'],
      ['compose', 'port', 'gpt2', '8080'],
    ]);
    expect(result).toMatchObject({ ok: true, url: serviceUrl });
    expect(result.smoke?.passed).toBe(true);
  });

  it('falls back to docker-compose, builds gpt2 image then starts the proxy for a proxy spec', async () => {
    const { result, calls } = await deploy(['--target', 'local', '--spec', 'deploy/local-proxy.json', '--dry-run'], {
      tools: ['docker', 'docker-compose'],
      env: { STANDIN_NO_PLUGIN: '1' },
    });
    expect(result.commands).toEqual([
      'docker-compose build gpt2',
      'docker-compose up -d proxy',
      'docker-compose port proxy 8080',
    ]);
    expect(argsOf(calls, 'docker-compose')).toEqual([['config', '-q']]);
  });

  it('runs the gpu profile service for a local spec that names a GPU', async () => {
    const spec = join(await mkdtemp(join(tmpdir(), 'deploy-spec-')), 'local-gpu.json');
    await writeFile(spec, JSON.stringify({ name: 'gpt2-local-gpu', target: 'local', compute: { gpuType: 'nvidia' } }));
    const { result } = await deploy(['--target', 'local', '--spec', spec, '--dry-run']);
    expect(result.commands).toEqual(['docker compose --profile gpu up -d --build gpt2-gpu', 'docker compose --profile gpu port gpt2-gpu 8080']);
  });

  it('--destroy runs compose down', async () => {
    const { result, calls } = await deploy(['--target', 'local', '--spec', 'deploy/local-inference.json', '--destroy', '--yes']);
    expect(argsOf(calls, 'docker').slice(1)).toEqual([['compose', 'down']]);
    expect(result.ok).toBe(true);
  });

  it('says how to get compose when neither docker compose nor docker-compose exists (exit 3)', async () => {
    const { result } = await deploy(['--target', 'local', '--spec', 'deploy/local-inference.json'], { tools: [] });
    expect(result.exitCode).toBe(3);
    expect(result.error).toContain('https://docs.docker.com/compose/install/');
  });

  it('gives the daemon error and exit 1 when compose up fails', async () => {
    const { result, output } = await deploy(['--target', 'local', '--spec', 'deploy/local-inference.json'], { env: { STANDIN_FAIL: 'docker' } });
    expect(result.exitCode).toBe(1);
    expect(output).toContain('[docker] Cannot connect to the Docker daemon');
    expect(output).toMatch(/^<== \[\d\/\d\] .+: failed after \d+\.\d s$/m);
    expect(result.error).toContain('is the Docker engine running');
  });
});

describe('spec checks', () => {
  it('rejects a spec whose target differs from --target (exit 2) and runs nothing', async () => {
    const { result, calls } = await deploy(['--target', 'gcp', '--spec', 'deploy/aws-inference.json', '--yes']);
    expect(result.exitCode).toBe(2);
    expect(result.error).toContain('targets "aws" but --target is "gcp"');
    expect(calls).toEqual([]);
  });

  it('rejects a missing spec file with its path (exit 2)', async () => {
    const { result } = await deploy(['--target', 'aws', '--spec', 'deploy/nope.json', '--dry-run']);
    expect(result.exitCode).toBe(2);
    expect(result.error).toContain('cannot read spec file');
  });
});

describe('command line', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => runScript('deploy', args, { HOME: process.env.HOME ?? '', ...env });

  it('--dry-run exits 0 with the commands and a summary; a wrong option exits 2', async () => {
    const standIns = await makeStandIns([]);
    const [dry, wrong] = await Promise.all([
      cli(['--target', 'azure', '--spec', 'deploy/azure-inference.json', '--dry-run'], { PATH: standIns.path }),
      cli(['--target', 'moon', '--spec', 'deploy/azure-inference.json']),
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('pulumi stack select --create --stack azure-inference --non-interactive');
    expect(dry.stdout).toMatch(/deploy summary[\s\S]*result +ok/);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--target must be one of local, aws, azure, gcp');
  });

  it('refuses to deploy to a cloud without --yes when there is no terminal (exit 2)', async () => {
    const standIns = await makeStandIns(ALL_TOOLS);
    const run = await cli(['--target', 'gcp', '--spec', 'deploy/gcp-inference.json'], { PATH: standIns.path, STANDIN_LOG: standIns.log });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pass --yes');
    expect(await standIns.calls()).toEqual([]);
  });
});

describe('options', () => {
  it('--help, and combinations that make no sense are refused', () => {
    expect(parseDeployArgs(['--help'], {})).toEqual({ help: true });
    expect(() => parseDeployArgs(['--target', 'aws', '--spec', 'x.json', '--registry-only'], {})).toThrow(/Pulumi targets/);
    expect(() => parseDeployArgs(['--target', 'local', '--spec', 'x.json', '--stack', 's'], {})).toThrow(/not for the local target/);
    expect(() => parseDeployArgs(['--spec', 'x.json'], {})).toThrow(/--target is required/);
    expect(() => parseDeployArgs(['--target', 'aws', '--spec', 'x.json', '--timeout', '0'], {})).toThrow(/more than 0/);
    expect(() => parseDeployArgs(['--target', 'aws', '--spec', 'x.json', '--environment', 'dev'], {})).toThrow(/--environment must be one of staging, production/);
    expect(() => parseDeployArgs(['--target', 'local', '--spec', 'x.json', '--environment', 'staging'], {})).toThrow(/not for the local target/);
  });

  it('takes the smoke key from SMOKE_API_KEY when --api-key is absent', () => {
    const parsed = parseDeployArgs(['--target', 'aws', '--spec', 'x.json'], { SMOKE_API_KEY: 'k1' });
    expect(parsed.help === false && parsed.options.apiKey).toBe('k1');
  });
});
