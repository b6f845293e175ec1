// The local target: compose.yaml on this machine through `docker compose` (or the standalone
// docker-compose, e.g. against podman's socket). The spec's variant picks the service; its host port comes
// back from `compose port`.
import { PrerequisiteError } from '../errors';
import { endpointFromComposePort } from '../outputs';
import type { Command, CommandRunner } from '../runner';
import { INSTALL_HINTS, resolveTool, type ToolName } from '../tools';
import type { Step, TargetContext, TargetPlan } from './target';

/** Port every service of compose.yaml listens on inside its container. */
const CONTAINER_PORT = '8080';

interface Compose {
  readonly tool: ToolName;
  readonly prefix: readonly string[];
}

/** `docker compose` when the plugin answers, else docker-compose; undefined when neither is installed. */
export async function findCompose(runner: CommandRunner, env: NodeJS.ProcessEnv): Promise<Compose | undefined> {
  if (resolveTool('docker', env) !== undefined) {
    const version = await runner({ tool: 'docker', args: ['compose', 'version'] }, { quiet: true });
    if (version.code === 0) return { tool: 'docker', prefix: ['compose'] };
  }
  if (resolveTool('docker-compose', env) !== undefined) return { tool: 'docker-compose', prefix: [] };
  return undefined;
}

/** The compose service for a spec: the proxy, or GPT-2 on the CPU or (when the spec names a GPU) the gpu profile's. */
export function composeService(ctx: Pick<TargetContext, 'spec'>): { service: string; profile?: string } {
  if (ctx.spec.variant === 'proxy') return { service: 'proxy' };
  return ctx.spec.compute.gpuType === 'none' ? { service: 'gpt2' } : { service: 'gpt2-gpu', profile: 'gpu' };
}

export async function localPlan(ctx: TargetContext): Promise<TargetPlan> {
  const found = await findCompose(ctx.runner, ctx.env);
  // Shown in a dry run even without any compose installed: the commands are what you would run with Docker.
  const compose = found ?? { tool: 'docker', prefix: ['compose'] };
  const { service, profile } = composeService(ctx);
  // No -f: run in the repository root, compose finds compose.yaml and also reads a compose.override.yaml
  // (the README's way to mount a model), which naming the file would turn off.
  const base = [...compose.prefix, ...(profile === undefined ? [] : ['--profile', profile])];
  const run = (...args: string[]): Command => ({ tool: compose.tool, args: [...base, ...args] });
  const hint =
    'is the Docker engine running (`docker info`)? With podman: `podman system service --time=0 &` and ' +
    'DOCKER_HOST=unix:///run/podman/podman.sock (scripts/containers/setup.sh sets it up)';
  const deploy: Step[] =
    service === 'proxy'
      ? [
          // The proxy runs gpt2's image (it has no build section of its own): build that, then start the proxy.
          { title: 'build the image (service gpt2 builds gpt2-openai-toolkit:cpu)', command: run('build', 'gpt2'), hint },
          { title: 'start the proxy', command: run('up', '-d', 'proxy'), hint },
        ]
      : [{ title: `build and start ${service}`, command: run('up', '-d', '--build', service), hint }];
  deploy.push({ title: `read the host port of ${service}`, command: run('port', service, CONTAINER_PORT), quiet: true });
  return {
    stack: 'compose.yaml',
    plannedUrl: `http://127.0.0.1:HOST_PORT (compose.yaml maps ${service}'s port ${CONTAINER_PORT} to a port on 127.0.0.1; \`compose port ${service} ${CONTAINER_PORT}\` prints it)`,
    deploy,
    destroy: [{ title: 'stop and remove the compose services', command: run('down'), hint }],
    preview: async () =>
      found === undefined
        ? { skipped: 'neither docker compose nor docker-compose found (compose.yaml not checked)' }
        : [{ title: 'check compose.yaml', command: run('config', '-q') }],
    checkPrerequisites: async () => {
      if (found === undefined) throw new PrerequisiteError(`neither \`docker compose\` nor docker-compose was found: ${INSTALL_HINTS.docker}`);
    },
    readEndpoint: async (results) => ({ url: endpointFromComposePort(results[results.length - 1]?.stdout ?? '', service) }),
  };
}
