// compose.yaml: valid for docker-compose, wired as documented (ports on 127.0.0.1, profiles, health
// checks equal to the image's), and, run with docker-compose against podman's Docker-compatible socket,
// the GPT-2 service and the proxy in front of it pass the smoke test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseSmokeArgs, type SmokeOptions } from '../../scripts/smoke/options';
import { formatTable } from '../../scripts/smoke/report';
import { runSmoke } from '../../scripts/smoke/runner';
import { eventually } from '../support/eventually';
import { tinyModelDir } from '../support/models';
import { healthcheckCommand, readDockerfile, REPO_ROOT, stage } from './dockerfile';
import { buildCpuImage, freePort, mustRun, run } from './podman';

interface ComposeService {
  image?: string;
  build?: { target?: string };
  profiles?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, unknown>;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } } };
}

/** compose.yaml after docker-compose's own interpolation and merging, with no variables set. */
async function resolvedCompose(): Promise<Record<string, ComposeService>> {
  const env = { PATH: process.env.PATH ?? '' };
  return (parse(await mustRun('docker-compose', ['config'], { env })) as { services: Record<string, ComposeService> }).services;
}

describe('compose.yaml', () => {
  let services: Record<string, ComposeService>;

  beforeAll(async () => {
    services = await resolvedCompose();
  });

  it('passes docker-compose config -q', async () => {
    expect(await run('docker-compose', ['config', '-q'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('runs gpt2 and the OpenAI proxy by default; gpu, local-upstream and monitoring (Prometheus, Grafana) are profiles', () => {
    const byProfile = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.profiles ?? []]));
    expect(byProfile).toEqual({
      gpt2: [],
      proxy: [],
      'gpt2-gpu': ['gpu'],
      'proxy-local': ['local-upstream'],
      prometheus: ['monitoring'],
      grafana: ['monitoring'],
    });
  });

  it('publishes every port on 127.0.0.1 only: 8080 inference, 8081 proxy', () => {
    const ports = Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.ports]));
    expect(ports).toEqual({
      gpt2: ['127.0.0.1:8080:8080/tcp'],
      proxy: ['127.0.0.1:8081:8080/tcp'],
      'gpt2-gpu': ['127.0.0.1:8082:8080/tcp'],
      'proxy-local': ['127.0.0.1:8083:8080/tcp'],
      prometheus: ['127.0.0.1:9090:9090/tcp'],
      grafana: ['127.0.0.1:3000:3000/tcp'],
    });
  });

  it('reserves an NVIDIA GPU for the gpu target only, and points proxy-local at gpt2', () => {
    expect(services['gpt2-gpu']?.build?.target).toBe('gpu');
    expect(services['gpt2-gpu']?.deploy?.resources?.reservations?.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(services.gpt2?.build?.target).toBe('cpu');
    expect(services.gpt2?.deploy).toBeUndefined();
    expect(services.proxy?.environment?.UPSTREAM_BASE_URL).toBe('https://api.openai.com/v1');
    expect(services['proxy-local']?.environment?.UPSTREAM_BASE_URL).toBe('http://gpt2:8080/v1');
    // service_started, not service_healthy: the proxy needs no upstream to start, and podman's
    // Docker-compatible socket never runs health checks (a service_healthy dependency would hang).
    expect(services['proxy-local']?.depends_on).toEqual({ gpt2: { condition: 'service_started' } });
  });

  it("health-checks every service of ours with the image's own HEALTHCHECK command", () => {
    const imageCheck = healthcheckCommand(stage(readDockerfile().stages, 'cpu'));
    for (const name of ['gpt2', 'gpt2-gpu', 'proxy', 'proxy-local']) {
      expect({ name, test: services[name]?.healthcheck?.test }).toEqual({ name, test: ['CMD', ...(imageCheck ?? [])] });
    }
  });

  it('has Prometheus scrape /metrics of exactly the services that serve it', async () => {
    const config = parse(await readFile(join(REPO_ROOT, 'monitoring', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ metrics_path: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = config.scrape_configs.flatMap((job) => job.static_configs.flatMap((group) => group.targets.map((target) => `${target}${job.metrics_path}`)));
    expect(targets.sort()).toEqual(['gpt2-gpu:8080/metrics', 'gpt2:8080/metrics', 'proxy-local:8080/metrics', 'proxy:8080/metrics']);
  });
});

describe('docker-compose up against podman', () => {
  const project = `gpt2smoke${process.pid}`;
  let dir = '';
  let socketService: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv = {};
  const ports = { gpt2: 0, proxyLocal: 0 };
  const compose = (args: string[]) =>
    mustRun('docker-compose', ['-p', project, '-f', join(REPO_ROOT, 'compose.yaml'), '-f', join(dir, 'override.yaml'), ...args], {
      env,
      timeoutMs: 5 * 60 * 1000,
    });

  beforeAll(async () => {
    await buildCpuImage();
    dir = await mkdtemp(join(tmpdir(), 'compose-'));
    const socket = join(dir, 'podman.sock');
    socketService = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
    await eventually(() => existsSync(socket), `podman system service creating ${socket}`, 60_000);
    // The model is mounted (nothing can be fetched here), as the README's override example does.
    const model = await tinyModelDir();
    const mounted = { environment: { MODEL_DIR: '/model' }, volumes: [`${model}:/model:ro`] };
    await writeFile(join(dir, 'override.yaml'), JSON.stringify({ services: { gpt2: mounted } }));
    ports.gpt2 = await freePort();
    ports.proxyLocal = await freePort();
    env = {
      PATH: process.env.PATH ?? '',
      DOCKER_HOST: `unix://${socket}`,
      GPT2_PORT: String(ports.gpt2),
      PROXY_LOCAL_PORT: String(ports.proxyLocal),
      LOG_LEVEL: 'warn',
    };
    await compose(['--profile', 'local-upstream', 'up', '-d', '--no-build', 'gpt2', 'proxy-local']);
  });

  afterAll(async () => {
    if (dir !== '' && env.DOCKER_HOST !== undefined) {
      await run('docker-compose', ['-p', project, '-f', join(REPO_ROOT, 'compose.yaml'), '-f', join(dir, 'override.yaml'), 'down', '-t', '5'], { env });
    }
    if (socketService?.exitCode === null) {
      const exited = new Promise((done) => socketService?.once('exit', done));
      socketService.kill('SIGTERM');
      await exited;
    }
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  function smoke(port: number, variant: 'inference' | 'proxy'): SmokeOptions {
    const parsed = parseSmokeArgs(['--url', `http://127.0.0.1:${port}`, '--variant', variant, '--timeout', '180', '--request-timeout', '60']);
    if (parsed.help) throw new Error('unexpected --help');
    return parsed.options;
  }

  async function logs(service: string): Promise<string> {
    return (await run('docker-compose', ['-p', project, '-f', join(REPO_ROOT, 'compose.yaml'), '-f', join(dir, 'override.yaml'), 'logs', '--tail', '40', service], { env })).stdout;
  }

  it('serves gpt2 on its published 127.0.0.1 port and passes the smoke test', async () => {
    const report = await runSmoke(smoke(ports.gpt2, 'inference'));
    console.log(`compose gpt2 (docker-compose on podman):\n${formatTable(report)}`);
    if (!report.passed) console.log(await logs('gpt2'));
    expect(report.checks.filter((check) => check.status !== 'pass')).toEqual([]);
  });

  it('serves the proxy with the local gpt2 as its upstream (by service name) and passes the smoke test', async () => {
    const report = await runSmoke(smoke(ports.proxyLocal, 'proxy'));
    console.log(`compose proxy-local (docker-compose on podman):\n${formatTable(report)}`);
    if (!report.passed) console.log(await logs('proxy-local'));
    expect(report.checks.filter((check) => check.status !== 'pass')).toEqual([]);
  });
});
