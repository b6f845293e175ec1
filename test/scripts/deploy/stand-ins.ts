// Stand-ins for cdk, pulumi, docker, docker-compose, aws, az and gcloud: small node scripts put first on PATH that
// record their arguments (and the content of the spec file they were handed) and answer in the real tools' formats.
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type StandInTool = 'cdk' | 'pulumi' | 'docker' | 'docker-compose' | 'aws' | 'az' | 'gcloud';

/** The inference API key the stand-in secret stores hold (what aws/az/gcloud print when asked for the secret). */
export const STANDIN_API_KEY = 'sk-standin-generated-key';

/** One recorded call. */
export interface Call {
  readonly tool: StandInTool;
  readonly args: string[];
  /** The spec file's JSON when the call named one (`-c spec=F`, `--config spec=F`). */
  readonly spec?: Record<string, unknown>;
  /** What the tool read on stdin (docker login --password-stdin). */
  readonly stdin?: string;
}

/**
 * Behaviour, set through the environment of the deploy command:
 *   STANDIN_URL          the URL the stand-ins report as the endpoint
 *   STANDIN_FAIL         a tool whose deploy/up/destroy exits 1
 *   STANDIN_LOGGED_OUT   pulumi whoami / aws sts fail as when there are no credentials
 *   STANDIN_NO_PLUGIN    docker has no compose plugin (docker compose version fails)
 *   STANDIN_DEPLOYED     the Pulumi stack was deployed before (stack output has url and registry)
 *   STANDIN_AZ_UNREGISTERED  comma-separated resource providers az reports NotRegistered
 *   STANDIN_SECRET_DENIED    reading the API key secret fails as without permission
 *   STANDIN_IMAGES       JSON { "REGISTRY/IMAGE:TAG": "sha256:..." } already in the registries
 * Images docker pushes or imagetools creates are remembered (in a file beside the log) with their digest.
 */
const SCRIPT = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
const env = process.env;
const url = env.STANDIN_URL || 'http://127.0.0.1:1';
const apiKey = '${STANDIN_API_KEY}';
const specArg = args.map((a) => /^spec=(.+)$/.exec(a)).find(Boolean);
let spec;
if (specArg) spec = JSON.parse(fs.readFileSync(path.resolve(specArg[1]), 'utf8'));
const stdin = args.includes('--password-stdin') ? fs.readFileSync(0, 'utf8') : undefined;
fs.appendFileSync(env.STANDIN_LOG, JSON.stringify({ tool, args, spec, stdin }) + '\n');
const state = env.STANDIN_LOG + '.pulumi-state.json';
const images = env.STANDIN_LOG + '.images.json';
const fail = (message) => { process.stderr.write(message + '\n'); process.exitCode = 1; };
const failing = env.STANDIN_FAIL === tool;
const after = (flag) => args[args.indexOf(flag) + 1];
const known = () => ({ ...JSON.parse(env.STANDIN_IMAGES || '{}'), ...(fs.existsSync(images) ? JSON.parse(fs.readFileSync(images, 'utf8')) : {}) });
const remember = (ref, digest) => fs.writeFileSync(images, JSON.stringify({ ...known(), [ref]: digest }));
const repositoryOf = (ref) => ref.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^:/]+$/, '');

function docker(rest) {
  if (rest[0] === 'build') {
    if (failing) return fail('ERROR: failed to solve: process "/bin/sh -c npm run build" did not complete successfully: exit code: 2');
    console.log('Successfully tagged ' + after('-t'));
  } else if (rest[0] === 'push') {
    const digest = 'sha256:' + crypto.createHash('sha256').update(rest[1]).digest('hex');
    remember(rest[1], digest);
    console.log(rest[1].split(':').pop() + ': digest: ' + digest + ' size: 4321');
  } else if (rest[0] === 'login') {
    console.log('Login Succeeded');
  } else if (rest[0] === 'buildx' && rest[1] === 'imagetools' && rest[2] === 'inspect') {
    const ref = rest[3];
    const byDigest = /@(sha256:[0-9a-f]+)$/.exec(ref);
    const digest = byDigest ? Object.entries(known()).find(([r, d]) => d === byDigest[1] && repositoryOf(r) === repositoryOf(ref))?.[1] : known()[ref];
    if (!digest) return fail('ERROR: ' + ref + ': not found');
    console.log(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest, size: 4321 }));
  } else if (rest[0] === 'buildx' && rest[1] === 'imagetools' && rest[2] === 'create') {
    const source = rest[rest.length - 1];
    const digest = /@(sha256:[0-9a-f]+)$/.exec(source)[1];
    if (!Object.values(known()).includes(digest)) return fail('ERROR: ' + source + ': not found');
    remember(after('--tag'), digest);
  } else {
    return fail('unknown command');
  }
}

// One function, so that a failure can return early and leave with exit code 1.
function main() {
  if (tool === 'cdk') {
    if (args[0] === 'deploy') {
      if (failing) return fail('❌  ' + args[1] + ' failed: ValidationError: Template format error');
      console.log(args[1] + ': deploying... [1/1]');
      console.log(' ✅  ' + args[1]);
      const keys = spec && spec.variant === 'proxy' ? {} : { ApiKeysSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:' + args[1] + '-api-keys-AbCdEf' };
      fs.writeFileSync(after('--outputs-file'), JSON.stringify({ [args[1]]: { EndpointUrl: url, LoadBalancerDnsName: 'lb.example', ...keys } }, null, 2));
    } else if (args[0] === 'destroy') {
      if (failing) return fail('destroy failed');
      console.log(' ✅  ' + args[1] + ': destroyed');
    } else if (args[0] === 'synth') {
      console.log('Successfully synthesized to cdk.out');
    }
  } else if (tool === 'pulumi') {
    if (args[0] === 'whoami') {
      if (env.STANDIN_LOGGED_OUT) return fail('error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions');
      console.log('tester');
    } else if (args[0] === 'up') {
      if (failing) return fail('error: update failed');
      fs.writeFileSync(state, JSON.stringify({ registryOnly: args.includes('registryOnly=true'), variant: spec.variant || 'inference', target: spec.target }));
      console.log('Updating (' + after('--stack') + ')');
      console.log('Resources: 9 created');
    } else if (args[0] === 'stack' && args[1] === 'output') {
      // A stack never updated has no outputs, unless STANDIN_DEPLOYED says it was deployed before.
      const last = fs.existsSync(state) ? JSON.parse(fs.readFileSync(state, 'utf8')) : env.STANDIN_DEPLOYED ? { registryOnly: false, variant: 'proxy' } : undefined;
      const outputs = { identity: 'id-123', registry: 'gpt2registry.azurecr.io' };
      const keys = last && last.variant === 'inference'
        ? { apiKeysSecret: last.target === 'gcp' ? 'projects/my-project/secrets/gpt2-gcp-api-keys' : 'https://gpt2kv.vault.azure.net/secrets/api-keys' }
        : {};
      console.log(JSON.stringify(last === undefined ? {} : last.registryOnly ? outputs : { ...outputs, url, ...keys }, null, 2));
    } else if (args[0] === 'destroy') {
      if (failing) return fail('error: destroy failed');
      console.log('Resources: 9 deleted');
    } else if (args[0] === 'preview') {
      console.log('Previewing update (' + after('--stack') + ')');
    }
  } else if (tool === 'docker' && args[0] !== 'compose') {
    return docker(args);
  } else if (tool === 'docker' || tool === 'docker-compose') {
    const rest = tool === 'docker' ? args.slice(1) : args;
    if (tool === 'docker' && rest[0] === 'version') {
      if (env.STANDIN_NO_PLUGIN) return fail("docker: unknown command: docker compose");
      console.log('Docker Compose version v2.29.7');
    } else if (rest.includes('port')) {
      console.log(new URL(url).host);
    } else if (rest.includes('up') && failing) {
      return fail('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?');
    }
  } else if (tool === 'aws') {
    if (env.STANDIN_LOGGED_OUT) return fail('Unable to locate credentials. You can configure credentials by running "aws configure".');
    if (args[0] === 'secretsmanager') {
      if (env.STANDIN_SECRET_DENIED) return fail('An error occurred (AccessDeniedException) when calling the GetSecretValue operation: not authorized');
      console.log(apiKey);
    } else if (args[0] === 'ecr') {
      console.log('ecr-login-password');
    } else {
      console.log(JSON.stringify({ UserId: 'AIDA', Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/tester' }));
    }
  } else if (tool === 'az') {
    if (env.STANDIN_LOGGED_OUT) return fail("ERROR: Please run 'az login' to setup account.");
    if (args[0] === 'provider' && args[1] === 'show') {
      const namespace = after('-n');
      const unregistered = (env.STANDIN_AZ_UNREGISTERED || '').split(',');
      console.log(JSON.stringify({ id: '/subscriptions/s/providers/' + namespace, namespace, registrationState: unregistered.includes(namespace) ? 'NotRegistered' : 'Registered' }));
    } else if (args[0] === 'keyvault') {
      if (env.STANDIN_SECRET_DENIED) return fail("ERROR: (Forbidden) Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'");
      console.log(apiKey);
    } else if (args[0] === 'acr') {
      console.log('Login Succeeded');
    }
  } else if (tool === 'gcloud') {
    if (args[0] === 'secrets') {
      if (env.STANDIN_SECRET_DENIED) return fail("ERROR: (gcloud.secrets.versions.access) PERMISSION_DENIED: Permission 'secretmanager.versions.access' denied");
      console.log(apiKey);
    } else if (args[0] === 'auth') {
      console.log('Adding credentials for: ' + args[2]);
    }
  }
}
main();
`;

export interface StandIns {
  /** A PATH holding only the chosen stand-ins. */
  readonly path: string;
  readonly log: string;
  readonly calls: () => Promise<Call[]>;
}

export async function makeStandIns(tools: readonly StandInTool[]): Promise<StandIns> {
  const dir = await mkdtemp(join(tmpdir(), 'deploy-standins-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  for (const tool of tools) {
    const file = join(bin, tool);
    await writeFile(file, `#!${process.execPath}\n${SCRIPT}`);
    await chmod(file, 0o755);
  }
  const log = join(dir, 'calls.jsonl');
  await writeFile(log, '');
  return {
    path: bin,
    log,
    calls: async () =>
      (await readFile(log, 'utf8'))
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Call),
  };
}
