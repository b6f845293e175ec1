// Stand-ins for cdk, pulumi, docker, docker-compose and aws: small node scripts put first on PATH that record
// their arguments (and the content of the spec file they were handed) and answer in the real tools' formats.
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type StandInTool = 'cdk' | 'pulumi' | 'docker' | 'docker-compose' | 'aws';

/** One recorded call. */
export interface Call {
  readonly tool: StandInTool;
  readonly args: string[];
  /** The spec file's JSON when the call named one (`-c spec=F`, `--config spec=F`). */
  readonly spec?: Record<string, unknown>;
}

/**
 * Behaviour, set through the environment of the deploy command:
 *   STANDIN_URL          the URL the stand-ins report as the endpoint
 *   STANDIN_FAIL         a tool whose deploy/up/destroy exits 1
 *   STANDIN_LOGGED_OUT   pulumi whoami / aws sts fail as when there are no credentials
 *   STANDIN_NO_PLUGIN    docker has no compose plugin (docker compose version fails)
 *   STANDIN_DEPLOYED     the Pulumi stack was deployed before (stack output has url and registry)
 */
const SCRIPT = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
const env = process.env;
const url = env.STANDIN_URL || 'http://127.0.0.1:1';
const specArg = args.map((a) => /^spec=(.+)$/.exec(a)).find(Boolean);
let spec;
if (specArg) spec = JSON.parse(fs.readFileSync(path.resolve(specArg[1]), 'utf8'));
fs.appendFileSync(env.STANDIN_LOG, JSON.stringify({ tool, args, spec }) + '\n');
const state = env.STANDIN_LOG + '.registry-only';
const fail = (message) => { process.stderr.write(message + '\n'); process.exitCode = 1; };
const failing = env.STANDIN_FAIL === tool;
const after = (flag) => args[args.indexOf(flag) + 1];

// One function, so that a failure can return early and leave with exit code 1.
function main() {
  if (tool === 'cdk') {
    if (args[0] === 'deploy') {
      if (failing) return fail('❌  ' + args[1] + ' failed: ValidationError: Template format error');
      console.log(args[1] + ': deploying... [1/1]');
      console.log(' ✅  ' + args[1]);
      fs.writeFileSync(after('--outputs-file'), JSON.stringify({ [args[1]]: { EndpointUrl: url, LoadBalancerDnsName: 'lb.example' } }, null, 2));
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
      fs.writeFileSync(state, String(args.includes('registryOnly=true')));
      console.log('Updating (' + after('--stack') + ')');
      console.log('Resources: 9 created');
    } else if (args[0] === 'stack' && args[1] === 'output') {
      // A stack never updated has no outputs, unless STANDIN_DEPLOYED says it was deployed before.
      const last = fs.existsSync(state) ? fs.readFileSync(state, 'utf8') : env.STANDIN_DEPLOYED ? 'false' : 'new';
      const outputs = { identity: 'id-123', registry: 'gpt2registry.azurecr.io' };
      console.log(JSON.stringify(last === 'new' ? {} : last === 'true' ? outputs : { ...outputs, url }, null, 2));
    } else if (args[0] === 'destroy') {
      if (failing) return fail('error: destroy failed');
      console.log('Resources: 9 deleted');
    } else if (args[0] === 'preview') {
      console.log('Previewing update (' + after('--stack') + ')');
    }
  } else if (tool === 'docker' || tool === 'docker-compose') {
    const rest = tool === 'docker' ? args.slice(1) : args;
    if (tool === 'docker' && args[0] !== 'compose') return fail('unknown command');
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
    console.log(JSON.stringify({ UserId: 'AIDA', Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/tester' }));
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
