// Lint for the Dockerfile (hadolint is not installable offline): syntax via dockerfile-utils, plus the
// rules that matter for this image; and the promise that the cpu and gpu targets differ only in
// their base image and the CUDA execution provider.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { healthcheckCommand, readDockerfile, REPO_ROOT, stage, type Instruction, type Stage } from './dockerfile';

const { stages, text } = readDockerfile();
const cpu = stage(stages, 'cpu');
const gpu = stage(stages, 'gpu');
const finals = [cpu, gpu];

const lines = (target: Stage, keyword: string) => target.instructions.filter((instruction) => instruction.keyword === keyword);
const show = (instructions: Instruction[]) => instructions.map((instruction) => `${instruction.keyword} ${instruction.args}`);

describe('Dockerfile lint', () => {
  it('has no syntax problems (dockerfile-utils, the validator behind the VS Code Docker extension)', () => {
    const problems = validate(text).map((problem) => `line ${problem.range.start.line + 1}: ${problem.message}`);
    expect(problems).toEqual([]);
  });

  it('starts every stage from a fully qualified, pinned base (a tag, never latest) or an earlier stage', () => {
    const names = new Set<string>();
    for (const { name, base } of stages) {
      if (!names.has(base)) expect(base).toMatch(/^docker\.io\/[a-z0-9./-]+:(?!latest$)[\w.-]+$/);
      names.add(name);
    }
    expect(cpu.base).toBe('docker.io/library/node:24-bookworm-slim');
    expect(gpu.base).toMatch(/^docker\.io\/nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/);
  });

  it('never ADDs (so no remote URLs or auto-extracted archives): files come in with COPY', () => {
    expect(stages.flatMap((s) => show(lines(s, 'ADD')))).toEqual([]);
  });

  it('installs production dependencies only, from the lock file; the compiler only in the build stage', () => {
    const npmRuns = stages.flatMap((s) => lines(s, 'RUN').map((run) => ({ stage: s.name, args: run.args }))).filter((run) => /\bnpm (ci|install|i)\b/.test(run.args));
    expect(npmRuns.filter((run) => run.stage === 'deps').map((run) => run.args)).toEqual([expect.stringMatching(/\bnpm ci --omit=dev\b/)]);
    // The build stage adds exactly typescript and @types/node, at the versions the lock file holds, beside the app.
    const buildInstalls = npmRuns.filter((run) => run.stage !== 'deps');
    expect(buildInstalls.map((run) => run.stage)).toEqual(['build']);
    const installed = [...(buildInstalls[0]?.args.matchAll(/"([@\w/.-]+)@\$\(node -p "require\('\.\/package-lock\.json'\)\.packages\['node_modules\/([@\w/.-]+)'\]\.version"\)"/g) ?? [])];
    expect(installed.map(([, name, locked]) => [name, locked])).toEqual([['typescript', 'typescript'], ['@types/node', '@types/node']]);
    expect(buildInstalls[0]?.args).toMatch(/^npm install --prefix \/tmp\/build-tools --no-save /);
    for (const target of finals) {
      const sources = lines(target, 'COPY').filter((copy) => copy.args.includes('node_modules'));
      expect(sources.map((copy) => copy.args.match(/--from=(\S+)/)?.[1])).toEqual([target === cpu ? 'deps' : 'deps-cuda']);
    }
  });

  it('runs the compiled service: npm run build in the build stage, dist/ in both targets, no TypeScript sources', () => {
    expect(lines(stage(stages, 'build'), 'RUN').map((run) => run.args)).toContain('npm run build');
    for (const target of finals) {
      const copies = lines(target, 'COPY').map((copy) => copy.args);
      expect(copies).toContain('--from=build /app/dist ./dist');
      expect(copies.filter((args) => /\bservice\b|tsconfig/.test(args))).toEqual([]);
    }
    expect(lines(stage(stages, 'model'), 'RUN')[0]?.args).toContain('node dist/scripts/model-fetch.js --id "$MODEL_ID" --revision "$MODEL_REVISION"');
  });

  it.each(finals.map((target) => [target.name, target] as const))(
    'runs the %s target as a non-root user, with HOST=0.0.0.0, a HEALTHCHECK, no package installs and an exec-form CMD',
    (_name, target) => {
      const user = lines(target, 'USER').at(-1)?.args;
      expect(user).toBe('app');
      const useradd = lines(target, 'RUN').find((run) => run.args.includes('useradd'));
      expect(useradd?.args).toMatch(/--uid (\d{4,})/);
      expect(lines(target, 'ENV').map((env) => env.args).join(' ')).toMatch(/\bHOST=0\.0\.0\.0\b/);
      expect(healthcheckCommand(target)?.slice(0, 2)).toEqual(['node', '-e']);
      expect(lines(target, 'RUN').filter((run) => /apt-get|apt |dnf|yum|apk /.test(run.args))).toEqual([]);
      expect(lines(target, 'CMD').map((cmd) => JSON.parse(cmd.args) as unknown)).toEqual([['node', 'dist/service/main.js']]);
    },
  );
});

describe('Dockerfile targets', () => {
  it('differ only in the base image, the node binary copied into the CUDA base, the CUDA execution provider and Vulkan for webgpu', () => {
    const gpuOnly = new Set([
      'COPY --from=node /usr/local/bin/node /usr/local/bin/node',
      'COPY --from=vulkan /vulkan/lib/ /usr/lib/x86_64-linux-gnu/',
      'COPY --from=vulkan /vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json',
      'ENV EXECUTION_PROVIDER=cuda NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics',
    ]);
    const normalizedGpu = show(gpu.instructions)
      .filter((instruction) => !gpuOnly.has(instruction))
      .map((instruction) => instruction.replace('--from=deps-cuda ', '--from=deps '));
    expect(normalizedGpu).toEqual(show(cpu.instructions));
    expect(show(gpu.instructions).filter((instruction) => gpuOnly.has(instruction))).toEqual([...gpuOnly]);
  });

  it("give the gpu target NVIDIA's Vulkan ICD, naming the driver library the toolkit mounts with the graphics capability", () => {
    const vulkan = show(stage(stages, 'vulkan').instructions).join('\n');
    expect(vulkan).toMatch(/apt-get install -y --no-install-recommends libvulkan1/);
    expect(vulkan).toContain('"library_path":"libGLX_nvidia.so.0"');
  });

  it('add the CUDA execution provider in one verified step on top of the CPU dependencies', () => {
    const depsCuda = stage(stages, 'deps-cuda');
    expect(depsCuda.base).toBe('deps');
    expect(show(depsCuda.instructions)).toEqual([
      'RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js && ' +
        'test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
    ]);
  });

  it("match what the installed onnxruntime-node's install script reads and writes", () => {
    const onnxruntime = join(REPO_ROOT, 'node_modules', 'onnxruntime-node');
    expect(readFileSync(join(onnxruntime, 'script', 'install-utils.js'), 'utf8')).toContain('process.env.ONNXRUNTIME_NODE_INSTALL');
    const metadata = require(join(onnxruntime, 'script', 'install-metadata.js')) as {
      manifests: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(metadata.manifests['linux/x64:cuda12'] ?? {})).toContain('./libonnxruntime_providers_cuda.so');
    expect(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});

describe('the HEALTHCHECK command', () => {
  const command = healthcheckCommand(cpu) ?? [];

  async function exitCodeAgainst(status: number | 'closed'): Promise<number | null> {
    const server = createServer((request, response) => {
      response.statusCode = request.url === '/health' && typeof status === 'number' ? status : 404;
      response.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    if (status === 'closed') await new Promise((done) => server.close(done));
    try {
      return await new Promise((done, fail) => {
        const child = spawn(command[0] ?? 'node', command.slice(1), { env: { ...process.env, PORT: String(port), TLS_CERT_FILE: '' } });
        child.on('error', fail);
        child.on('exit', done);
      });
    } finally {
      if (status !== 'closed') await new Promise((done) => server.close(done));
    }
  }

  it('is the same in both targets', () => {
    expect(healthcheckCommand(gpu)).toEqual(command);
  });

  it('exits 0 when /health answers 200, and 1 when it answers 503 or nothing listens', async () => {
    expect(await exitCodeAgainst(200)).toBe(0);
    expect(await exitCodeAgainst(503)).toBe(1);
    expect(await exitCodeAgainst('closed')).toBe(1);
  });
});

it('keeps the build context to what the image needs (.dockerignore is an allowlist)', () => {
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
  expect(ignore[0]).toBe('*');
  const copied = stages.flatMap((s) => lines(s, 'COPY')).filter((copy) => !copy.args.includes('--from='));
  const sources = copied.flatMap((copy) => copy.args.split(' ').slice(0, -1));
  expect(sources).toContain('service');
  for (const source of sources) expect(ignore).toContain(`!${source}`);
});
