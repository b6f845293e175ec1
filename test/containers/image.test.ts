// The cpu target built from the real Dockerfile with podman and run on the host network with the tiny
// model mounted: both variants pass the smoke test and serve the playground; the image runs as non-root with production
// dependencies only, reports healthy, and stops cleanly on SIGTERM. A model baked in at build time
// (MODEL_ID, fetched from a stand-in hub given as HF_ENDPOINT) is served with nothing mounted.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSmokeArgs, type SmokeOptions } from '../../scripts/smoke/options';
import { formatTable } from '../../scripts/smoke/report';
import { runSmoke } from '../../scripts/smoke/runner';
import { PLAYGROUND_DIR } from '../../service/http/routes/playground';
import { startFakeHub } from '../service/models/fake-hub';
import { tinyModelDir, tinyVariantDir } from '../support/models';
import { REPO_ROOT } from './dockerfile';
import { buildCpuImage, freePort, IMAGE, mustRun, run } from './podman';

const started: string[] = [];
let inferenceUrl = '';
let inferenceId = '';

function smokeOptions(url: string, extra: string[]): SmokeOptions {
  const parsed = parseSmokeArgs(['--url', url, '--timeout', '180', '--request-timeout', '60', ...extra]);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.options;
}

/** Starts the image on the host network, on a free loopback port, and returns its id and URL. */
async function startContainer(name: string, env: Record<string, string>, mounts: string[] = []): Promise<{ id: string; url: string }> {
  const port = await freePort();
  const envArgs = Object.entries({ ...env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' }).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const mountArgs = mounts.flatMap((mount) => ['-v', mount]);
  const id = (await mustRun('podman', ['run', '-d', '--network', 'host', '--name', `${name}-${process.pid}`, ...envArgs, ...mountArgs, IMAGE])).trim();
  started.push(id);
  return { id, url: `http://127.0.0.1:${port}` };
}

async function logsOf(id: string): Promise<string> {
  const result = await run('podman', ['logs', '--tail', '40', id]);
  return `${result.stdout}${result.stderr}`;
}

beforeAll(async () => {
  const { seconds } = await buildCpuImage();
  console.log(`podman build --target cpu: ${seconds.toFixed(1)} s`);
  const model = await tinyModelDir();
  ({ id: inferenceId, url: inferenceUrl } = await startContainer('gpt2-inference', { MODEL_DIR: '/model', API_KEYS: 'smoke-key' }, [`${model}:/model:ro`]));
});

const BAKED_IMAGE = `${IMAGE}-baked-${process.pid}`;

afterAll(async () => {
  if (started.length > 0) await run('podman', ['rm', '-f', '-t', '0', ...started]);
  await run('podman', ['rmi', '-f', BAKED_IMAGE]);
});

describe('the cpu image', () => {
  it('runs as a non-root user with HOST=0.0.0.0 and a HEALTHCHECK on /health', async () => {
    const [config] = JSON.parse(await mustRun('podman', ['image', 'inspect', IMAGE])) as Array<{
      Config: { User: string; Env: string[] };
      Healthcheck?: { Test: string[] };
      Size: number;
    }>;
    console.log(`image ${IMAGE}: ${((config?.Size ?? 0) / 1e6).toFixed(0)} MB`);
    expect(config?.Config.User).toBe('app');
    expect(config?.Config.Env).toContain('HOST=0.0.0.0');
    expect(config?.Healthcheck?.Test.join(' ')).toContain("path:'/health'");
    expect((await mustRun('podman', ['run', '--rm', '--network', 'host', IMAGE, 'id', '-u'])).trim()).toBe('10001');
  });

  it('holds the compiled service and production dependencies only (no tsx), and only the onnxruntime binaries for its own platform', async () => {
    const probe = [
      "const has = (m) => { try { require.resolve(m); return true } catch { return false } };",
      "const fs = require('fs');",
      "console.log(JSON.stringify({ runtime: ['onnxruntime-node', 'fastify', 'zod'].filter(has),",
      "  dev: ['tsx', 'jest', 'typescript', 'aws-cdk-lib', '@pulumi/pulumi', '@huggingface/transformers'].filter(has),",
      "  files: ['dist/service/main.js', 'service/main.ts', 'tsconfig.json'].filter((f) => fs.existsSync(f)),",
      "  platforms: fs.readdirSync('node_modules/onnxruntime-node/bin/napi-v6').flatMap((os) => fs.readdirSync('node_modules/onnxruntime-node/bin/napi-v6/' + os).map((cpu) => os + '/' + cpu)) }))",
    ].join('\n');
    const found = JSON.parse(await mustRun('podman', ['run', '--rm', '--network', 'host', IMAGE, 'node', '-e', probe])) as Record<string, string[]>;
    expect(found).toEqual({ runtime: ['onnxruntime-node', 'fastify', 'zod'], dev: [], files: ['dist/service/main.js'], platforms: ['linux/x64'] });
  });

  it('passes the smoke test as the inference service with API keys', async () => {
    const report = await runSmoke(smokeOptions(inferenceUrl, ['--api-key', 'smoke-key']));
    console.log(`inference container (podman, --network host):\n${formatTable(report)}`);
    if (!report.passed) console.log(await logsOf(inferenceId));
    expect(report.checks.filter((check) => check.status !== 'pass')).toEqual([]);
    expect(report.checks.map((check) => check.name)).toContain('auth: wrong key');
  });

  it('serves the playground at / from the files in the image, byte for byte the repository\'s', async () => {
    for (const [path, file] of [['/', 'index.html'], ['/playground/playground.js', 'playground.js'], ['/playground/api.js', 'api.js'], ['/playground/sse.js', 'sse.js'], ['/playground/playground.css', 'playground.css']] as const) {
      const response = await fetch(`${inferenceUrl}${path}`);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(join(PLAYGROUND_DIR, file)))).toBe(true);
    }
  });

  it('passes the smoke test as the proxy in front of the inference container', async () => {
    const clientKey = 'smoke-proxy-key';
    const { id, url } = await startContainer(
      'gpt2-proxy',
      {
        VARIANT: 'proxy',
        UPSTREAM_BASE_URL: `${inferenceUrl}/v1`,
        OPENAI_API_KEY: 'smoke-key',
        PROXY_CONFIG_FILE: '/etc/gpt2-openai-toolkit/proxy.json',
        PROXY_KEYS: `smoke:${createHash('sha256').update(clientKey).digest('hex')}`,
      },
      [`${join(REPO_ROOT, 'compose', 'proxy-local.json')}:/etc/gpt2-openai-toolkit/proxy.json:ro`],
    );
    const report = await runSmoke(smokeOptions(url, ['--api-key', clientKey, '--variant', 'proxy']));
    console.log(`proxy container (podman, --network host):\n${formatTable(report)}`);
    if (!report.passed) console.log(await logsOf(id));
    expect(report.checks.filter((check) => check.status !== 'pass')).toEqual([]);
  });

  it('serves a model baked in at build time with --build-arg MODEL_ID and MODEL_DTYPE, with nothing mounted', async () => {
    // The repository has an fp32 and an fp16 graph, as the hub's exports do; only the fp16 one is baked in.
    const fp16 = await readFile(join(await tinyVariantDir('tiny-fp16-io32', { precision: 'fp16-io32' }), 'onnx', 'model_fp16.onnx'));
    const hub = await startFakeHub('onnx-community/gpt2-ONNX', await tinyModelDir(), { 'onnx/model_fp16.onnx': fp16 });
    try {
      await mustRun(
        'podman',
        ['build', '--pull=never', '--network', 'host', '--format', 'docker', '--target', 'cpu',
          '--build-arg', 'MODEL_ID=gpt2', '--build-arg', 'MODEL_DTYPE=fp16', '--build-arg', `HF_ENDPOINT=${hub.endpoint}`, '-t', BAKED_IMAGE, '.'],
        { timeoutMs: 15 * 60 * 1000 },
      );
    } finally {
      await hub.close();
    }
    const port = await freePort();
    const id = (
      await mustRun('podman', ['run', '-d', '--network', 'host', '-e', 'HOST=127.0.0.1', '-e', `PORT=${port}`, '-e', 'LOG_LEVEL=warn', BAKED_IMAGE])
    ).trim();
    started.push(id);
    const report = await runSmoke(smokeOptions(`http://127.0.0.1:${port}`, []));
    if (!report.passed) console.log(formatTable(report), await logsOf(id));
    expect(report.checks.filter((check) => check.status !== 'pass')).toEqual([]);
    const listing = await mustRun('podman', ['run', '--rm', '--network', 'host', BAKED_IMAGE, 'ls', '/models/onnx-community/gpt2-ONNX/main/onnx']);
    expect(listing.split('\n').filter((name) => name !== '')).toEqual(['model_fp16.onnx']);
    const labels = JSON.parse(await mustRun('podman', ['image', 'inspect', '--format', '{{json .Labels}}', BAKED_IMAGE])) as Record<string, string>;
    expect(labels).toMatchObject({ 'gpt2-openai-toolkit.model.id': 'gpt2', 'gpt2-openai-toolkit.model.revision': 'main', 'gpt2-openai-toolkit.model.dtype': 'fp16' });
  });

  it('reports healthy when podman runs its HEALTHCHECK', async () => {
    const result = await run('podman', ['healthcheck', 'run', inferenceId]);
    expect(result).toMatchObject({ code: 0 });
  });

  it('stops on SIGTERM by draining and exiting 0, well before podman would SIGKILL it', async () => {
    const before = Date.now();
    await mustRun('podman', ['stop', '-t', '60', inferenceId]);
    const seconds = (Date.now() - before) / 1000;
    const state = JSON.parse(await mustRun('podman', ['inspect', '--format', '{{json .State}}', inferenceId])) as { ExitCode: number };
    // Exit code 0, not 137: it left on SIGTERM by itself. An idle service drains at once; the bound
    // leaves podman's own stop and clean-up seconds to spare on a loaded machine and still lies
    // well below the 60 s after which podman would have killed it.
    expect(state.ExitCode).toBe(0);
    expect(seconds).toBeLessThan(40);
  });
});
