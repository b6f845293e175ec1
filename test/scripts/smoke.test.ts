// The smoke test (scripts/smoke.ts) against the real service in both variants, and against endpoints
// that are down, broken or never ready: it must pass the first and fail the others, saying why.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseSmokeArgs, type SmokeOptions } from '../../scripts/smoke/options';
import { formatTable } from '../../scripts/smoke/report';
import { runSmoke, type SmokeReport } from '../../scripts/smoke/runner';
import { tinyModelDir } from '../support/models';
import { runScript } from '../support/run-script';
import { startService as startServiceProcess } from '../support/service-process';

const REPO_ROOT = resolve(__dirname, '..', '..');

function options(url: string, overrides: Partial<SmokeOptions> = {}): SmokeOptions {
  const parsed = parseSmokeArgs(['--url', url, '--timeout', '1', '--request-timeout', '5']);
  if (parsed.help) throw new Error('unexpected --help');
  return { ...parsed.options, ...overrides };
}

function byName(report: SmokeReport, name: string) {
  const check = report.checks.find((candidate) => candidate.name === name);
  if (check === undefined) throw new Error(`no check named ${name} in:\n${formatTable(report)}`);
  return check;
}

/** A stand-in endpoint whose every answer is chosen by the test. */
async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const close = (server: Server) => new Promise<void>((done) => server.close(() => done()));

const runCli = (args: string[]) => runScript('smoke', args);

interface Service {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | string>;
}

/** Starts service/main.ts the way the image does (node --import tsx) on an ephemeral 127.0.0.1 port. */
async function startService(env: Record<string, string>): Promise<Service> {
  const service = startServiceProcess(env);
  return { url: await service.listening, child: service.child, output: service.output, exited: service.exited };
}

async function stopService(service: Service | undefined): Promise<void> {
  if (service === undefined || service.child.exitCode !== null) return;
  service.child.kill('SIGTERM');
  await service.exited;
}

describe('smoke test against the service', () => {
  const apiKey = 'smoke-inference-key';
  const clientKey = 'smoke-proxy-key';
  let inference: Service | undefined;
  let proxy: Service | undefined;

  beforeAll(async () => {
    inference = await startService({ VARIANT: 'inference', MODEL_DIR: await tinyModelDir(), API_KEYS: apiKey });
    proxy = await startService({
      VARIANT: 'proxy',
      UPSTREAM_BASE_URL: `${inference.url}/v1`,
      OPENAI_API_KEY: apiKey,
      PROXY_CONFIG_FILE: join(REPO_ROOT, 'compose', 'proxy-local.json'),
      PROXY_KEYS: `smoke:${createHash('sha256').update(clientKey).digest('hex')}`,
    });
  });

  afterAll(async () => {
    await Promise.all([stopService(proxy), stopService(inference)]);
  });

  it('passes every check, auth included, against the inference variant with the tiny model', async () => {
    const service = inference as Service;
    const report = await runSmoke(options(service.url, { apiKey, timeoutSeconds: 60, requestTimeoutSeconds: 30 }));
    const problems = report.checks.filter((check) => check.status !== 'pass');
    expect({ problems, output: problems.length > 0 ? service.output() : '' }).toEqual({ problems: [], output: '' });
    expect(report.checks.map((check) => check.name)).toEqual([
      'ready',
      'health',
      'models',
      'completion',
      'completion (stream)',
      'chat completion',
      'unknown model',
      'auth: no key',
      'auth: wrong key',
    ]);
  });

  it('passes every check against the proxy variant in front of the inference service', async () => {
    const service = proxy as Service;
    const report = await runSmoke(
      options(service.url, { apiKey: clientKey, variant: 'proxy', timeoutSeconds: 60, requestTimeoutSeconds: 30 }),
    );
    const problems = report.checks.filter((check) => check.status !== 'pass');
    expect({ problems, output: problems.length > 0 ? service.output() : '' }).toEqual({ problems: [], output: '' });
    expect(report.checks).toHaveLength(9);
  });

  it('fails the models check, naming the list, when asked for a model the service does not serve', async () => {
    const service = inference as Service;
    const report = await runSmoke(options(service.url, { apiKey, model: 'gpt-4o', timeoutSeconds: 60 }));
    expect(byName(report, 'models')).toMatchObject({ status: 'fail', received: 'a list of gpt2' });
    expect(byName(report, 'completion')).toMatchObject({ status: 'fail', received: expect.stringMatching(/^404 .*model_not_found/) });
  });

  it('exits 0 from the command line and writes a passing --json report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smoke-'));
    try {
      const file = join(dir, 'smoke.json');
      const result = await runCli(['--url', (inference as Service).url, '--api-key', apiKey, '--json', file]);
      expect(result.stdout).toMatch(/^completion \(stream\) +PASS /m);
      expect(result.code).toBe(0);
      const json = JSON.parse(await readFile(file, 'utf8')) as SmokeReport;
      expect(json.passed).toBe(true);
      expect(json.checks.every((check) => check.status === 'pass' && Number.isInteger(check.ms))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('smoke test against endpoints that do not work', () => {
  it('fails the ready check with the connection error when nothing listens on the port', async () => {
    const { server, url } = await listen((_request, response) => response.end());
    await close(server);
    const report = await runSmoke(options(url));
    expect(report.passed).toBe(false);
    expect(byName(report, 'ready')).toMatchObject({
      status: 'fail',
      expected: `GET ${url}/ready to return 200 within 1 s`,
      received: expect.stringContaining('ECONNREFUSED'),
    });
    expect(byName(report, 'completion')).toMatchObject({ status: 'skip', detail: expect.stringContaining('never became ready') });
  });

  it('fails with the last answer when /ready keeps returning 503', async () => {
    const { server, url } = await listen((request, response) => {
      response.writeHead(request.url === '/ready' ? 503 : 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'loading model' }));
    });
    try {
      const started = Date.now();
      // 2.5 s: room for several attempts 0.5 s apart even when a loaded machine slows the first one.
      const report = await runSmoke(options(url, { timeoutSeconds: 2.5 }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
      expect(byName(report, 'ready').status).toBe('fail');
      // The last attempt has only what is left of the timeout; if that cut it short, the error follows the answer.
      expect(byName(report, 'ready').received).toMatch(/^503 \{"status":"loading model"\}(, then .*timed out\))? \(after [2-9] attempt\(s\)\)$/);
      expect(report.checks.filter((check) => check.status === 'pass')).toEqual([]);
    } finally {
      await close(server);
    }
  });

  it('names the last answer and the error of the later attempt that got none', async () => {
    let requests = 0;
    const { server, url } = await listen((_request, response) => {
      requests += 1;
      if (requests === 1) response.writeHead(500).end('down');
    });
    try {
      const report = await runSmoke(options(url, { timeoutSeconds: 3 }));
      expect(byName(report, 'ready').received).toBe('500 down, then no response before the deadline (timed out) (after 2 attempt(s))');
    } finally {
      server.closeAllConnections();
      await close(server);
    }
  });

  it('fails every API check, naming the expected and received status, when the server answers 500', async () => {
    const { server, url } = await listen((request, response) => {
      if (request.url === '/ready') return void response.end('ok');
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { message: 'engine exploded', type: 'server_error', param: null, code: null } }));
    });
    try {
      const report = await runSmoke(options(url, { apiKey: 'k' }));
      expect(report.passed).toBe(false);
      expect(byName(report, 'ready').status).toBe('pass');
      const failed = report.checks.filter((check) => check.status === 'fail').map((check) => check.name);
      expect(failed).toEqual([
        'health',
        'models',
        'completion',
        'completion (stream)',
        'chat completion',
        'unknown model',
        'auth: no key',
        'auth: wrong key',
      ]);
      expect(byName(report, 'completion').detail).toBe(
        'expected POST /v1/completions to return 200 with a text_completion of at most 8 tokens; ' +
          'got 500 {"error":{"message":"engine exploded","type":"server_error","param":null,"code":null}}',
      );
      expect(byName(report, 'unknown model').received).toMatch(/^500 /);
    } finally {
      await close(server);
    }
  });

  it('fails the stream check when the stream ends without data: [DONE]', async () => {
    const chunk = { id: 'c1', object: 'text_completion', model: 'gpt2', choices: [{ index: 0, text: 'hi', finish_reason: 'length' }] };
    const { server, url } = await listen((request, response) => {
      if (request.url === '/ready') return void response.end('ok');
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(`data: ${JSON.stringify(chunk)}\n\n`);
    });
    try {
      const report = await runSmoke(options(url));
      expect(byName(report, 'completion (stream)')).toMatchObject({
        status: 'fail',
        received: expect.stringContaining('1 event(s) and no [DONE]'),
      });
    } finally {
      await close(server);
    }
  });

  it('exits 1 from the command line and writes the failures to the --json file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smoke-'));
    const { server, url } = await listen((_request, response) => {
      response.writeHead(500);
      response.end('down');
    });
    try {
      // 5 s, not 1: a fresh process's first request can take a second on a loaded machine.
      const result = await runCli(['--url', url, '--timeout', '5', '--json', join(dir, 'smoke.json')]);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^ready +FAIL .*expected GET .*\/ready to return 200 within 5 s; got 500 down/m);
      expect(result.stdout).toContain('smoke test FAILED: 1 of 7 checks failed');
      const json = JSON.parse(await readFile(join(dir, 'smoke.json'), 'utf8')) as SmokeReport;
      expect(json).toMatchObject({ url, passed: false, variant: 'inference' });
      expect(json.checks.map((check) => check.status)).toEqual(['fail', 'skip', 'skip', 'skip', 'skip', 'skip', 'skip']);
    } finally {
      await close(server);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with a message naming the option when the options are wrong, and prints usage on --help', async () => {
    const wrong = await runCli(['--url', 'http://127.0.0.1:8080', '--variant', 'gateway']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--variant must be inference or proxy');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run smoke -- --url URL [options]');
  });
});
