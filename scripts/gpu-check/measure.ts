// CLI, run by scripts/gpu-check.sh from the gpu-check bundle (or with tsx): decode speed of each
// execution provider over a grid of batch sizes and context lengths for model folders, with the step
// time, the bytes moved between host and device per step, and memory; writes gpu-check.md and .json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ModelRunner } from '../../service/engine/batch';
import { DeviceModelRunner } from '../../service/engine/device-kv/device-runner';
import { vulkanDriverFiles } from '../../service/engine/device-kv/vulkan-check';
import { KvCache } from '../../service/engine/kv-cache';
import { loadModel, type ExecutionProvider, type LoadedModel } from '../../service/engine/model';
import type { ModelDtype } from '../../service/models/footprint';
import type { BatchCache, BatchModel, ForwardStep } from '../../service/engine/scheduler/batch-model';

const USAGE = `Usage: gpu-check/measure.js --model NAME=DIR[:DTYPE] [--model ...] --out DIR
       [--providers cpu,webgpu,cuda] [--batches 1,8,32] [--contexts 128,512,1024] [--steps 8] [--deadline-seconds 420]

For each model, provider, batch and context: one warm-up decode step over a cache of that length, then
--steps timed decode steps (fewer once a cell passed 5 s). Providers that cannot load are reported, not
fatal. Cells left when --deadline-seconds pass are marked skipped.`;

/** One decode measurement: a provider, a batch size and a context length. */
interface Cell {
  readonly model: string;
  readonly provider: ExecutionProvider;
  readonly batch: number;
  readonly context: number;
  readonly steps?: number;
  readonly tokensPerSecond?: number;
  readonly stepMs?: number;
  readonly toDeviceBytesPerStep?: number;
  readonly toHostBytesPerStep?: number;
  /** The cache's own size at that context (2 x layers x batch x heads x context x head size x element bytes). */
  readonly kvCacheBytes?: number;
  readonly deviceMemoryMiB?: number;
  readonly rssMiB?: number;
  readonly skipped?: string;
}

const CELL_SECONDS = 5;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', multiple: true },
      out: { type: 'string' },
      providers: { type: 'string', default: 'cpu,webgpu,cuda' },
      batches: { type: 'string', default: '1,8,32' },
      contexts: { type: 'string', default: '128,512,1024' },
      steps: { type: 'string', default: '8' },
      'deadline-seconds': { type: 'string', default: '420' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out || !values.model?.length) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const numbers = (text: string) => text.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const models = values.model.map((spec) => {
    const match = /^([^=]+)=([^:]+)(?::(\w+))?$/.exec(spec);
    if (!match) throw new Error(`--model ${spec}: expected NAME=DIR or NAME=DIR:DTYPE`);
    return { name: match[1]!, dir: match[2]!, dtype: (match[3] ?? 'fp32') as ModelDtype };
  });
  const providers = values.providers.split(',') as ExecutionProvider[];
  const deadline = performance.now() + Number(values['deadline-seconds']) * 1000;
  const host = describeHost();
  const cells: Cell[] = [];
  const notes: string[] = [];
  for (const model of models) {
    for (const provider of providers) {
      const grid = numbers(values.batches).flatMap((batch) => numbers(values.contexts).map((context) => ({ batch, context })));
      const skip = (why: string) => cells.push(...grid.map(({ batch, context }) => ({ model: model.name, provider, batch, context, skipped: why })));
      if (provider === 'cuda' && !cudaProviderInstalled()) {
        skip('onnxruntime-node has no CUDA provider library here');
        continue;
      }
      let loaded: LoadedModel;
      try {
        loaded = await loadModel(model.dir, { executionProvider: provider, dtype: model.dtype });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        notes.push(`${model.name} on ${provider}: ${reason}`);
        skip(`could not load: ${reason.slice(0, 200)}`);
        continue;
      }
      const runner = provider === 'webgpu' ? new DeviceModelRunner(loaded) : new ModelRunner(loaded);
      try {
        for (const { batch, context } of grid) {
          if (performance.now() > deadline) {
            cells.push({ model: model.name, provider, batch, context, skipped: 'deadline reached' });
            continue;
          }
          const cell = await measureCell(loaded, runner, batch, context, Number(values.steps));
          cells.push({ model: model.name, provider, ...cell });
          process.stderr.write(`${model.name} ${provider} batch ${batch} context ${context}: ${cell.tokensPerSecond?.toFixed(1)} tok/s\n`);
        }
      } finally {
        if (runner instanceof DeviceModelRunner) await runner.release();
        await loaded.release();
      }
    }
  }
  const report = { generatedAt: new Date().toISOString(), host, notes, cells };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'gpu-check.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(values.out, 'gpu-check.md'), markdown(report));
  process.stdout.write(`wrote ${join(values.out, 'gpu-check.md')} and gpu-check.json\n`);
}

async function measureCell(model: LoadedModel, runner: BatchModel, batch: number, context: number, steps: number): Promise<Omit<Cell, 'model' | 'provider'>> {
  const { nLayer, nHead, nEmbd } = model.config;
  const headDim = nEmbd / nHead;
  const elementBytes = model.kvDtype === 'float16' ? 2 : 4;
  // The past is zeros of the cell's length: decode speed depends on its size, not its values.
  const pastLength = context - 1;
  const zeros = () =>
    model.kvDtype === 'float16'
      ? new ort.Tensor('float16', new Uint16Array(batch * nHead * pastLength * headDim), [batch, nHead, pastLength, headDim])
      : new ort.Tensor('float32', new Float32Array(batch * nHead * pastLength * headDim), [batch, nHead, pastLength, headDim]);
  const lengths = new Array<number>(batch).fill(pastLength);
  let cache: BatchCache =
    runner instanceof DeviceModelRunner
      ? runner.hostCache(batch, pastLength, Array.from({ length: 2 * nLayer }, zeros))
      : KvCache.fromPresent(
          { nLayer, nHead, headDim, dtype: model.kvDtype },
          Array.from({ length: nLayer }, () => [zeros(), zeros()] as const),
          lengths,
        );
  const ids = new BigInt64Array(batch).fill(198n);
  const step = async (): Promise<void> => {
    const result: ForwardStep = await runner.forward(cache, ids, 1);
    cache = result.cache;
  };
  await step();
  const before = { ...runner.transfers };
  const started = performance.now();
  let ran = 0;
  while (ran < steps && (ran < 2 || performance.now() - started < CELL_SECONDS * 1000)) {
    await step();
    ran += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    batch,
    context,
    steps: ran,
    tokensPerSecond: (batch * ran) / seconds,
    stepMs: (seconds * 1000) / ran,
    toDeviceBytesPerStep: Math.round((runner.transfers.toDevice - before.toDevice) / ran),
    toHostBytesPerStep: Math.round((runner.transfers.toHost - before.toHost) / ran),
    kvCacheBytes: 2 * nLayer * batch * nHead * context * headDim * elementBytes,
    ...deviceMemory(),
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}

function cudaProviderInstalled(): boolean {
  const binding = dirname(require.resolve('onnxruntime-node/package.json'));
  return existsSync(join(binding, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so'));
}

function nvidiaSmi(query: string): string | undefined {
  try {
    return execFileSync('nvidia-smi', [`--query-gpu=${query}`, '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

function deviceMemory(): { deviceMemoryMiB?: number } {
  const used = nvidiaSmi('memory.used')?.split('\n')[0];
  return used === undefined ? {} : { deviceMemoryMiB: Number(used) };
}

function describeHost(): { cpus: string; nvidiaSmi: string | undefined; vulkanDrivers: string[]; lavapipe: boolean; node: string; onnxruntime: string } {
  const gpu = nvidiaSmi('name,driver_version,memory.total');
  const drivers = vulkanDriverFiles();
  return {
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    nvidiaSmi: gpu,
    vulkanDrivers: drivers,
    // No NVIDIA GPU and Mesa's software driver present: webgpu ran on the CPU.
    lavapipe: gpu === undefined && drivers.some((file) => /lvp_icd/.test(file)),
    node: process.version,
    onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
  };
}

function markdown(report: { generatedAt: string; host: ReturnType<typeof describeHost>; notes: string[]; cells: Cell[] }): string {
  const { host } = report;
  const lines = [
    '# GPU check',
    '',
    host.lavapipe ? '**lavapipe: numbers mean nothing.** webgpu ran on Mesa\'s software Vulkan driver (no NVIDIA GPU found); this report only shows the flow works.' : '',
    '',
    `- generated: ${report.generatedAt}`,
    `- GPU (nvidia-smi name, driver, memory MiB): ${host.nvidiaSmi ?? 'none (nvidia-smi not found)'}`,
    `- Vulkan drivers: ${host.vulkanDrivers.join(', ') || 'none'}`,
    `- CPU: ${host.cpus}; Node ${host.node}; onnxruntime-node ${host.onnxruntime}`,
    ...report.notes.map((note) => `- note: ${note}`),
    '',
    '| model | provider | batch | context | tok/s | step ms | to device B/step | to host B/step | KV cache MiB | device MiB used | RSS MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.cells.map((cell) =>
      cell.skipped !== undefined
        ? `| ${cell.model} | ${cell.provider} | ${cell.batch} | ${cell.context} | skipped: ${cell.skipped.replace(/\|/g, '/')} | | | | | | |`
        : `| ${cell.model} | ${cell.provider} | ${cell.batch} | ${cell.context} | ${cell.tokensPerSecond?.toFixed(1)} | ${cell.stepMs?.toFixed(1)} | ${cell.toDeviceBytesPerStep} | ${cell.toHostBytesPerStep} | ${((cell.kvCacheBytes ?? 0) / 2 ** 20).toFixed(1)} | ${cell.deviceMemoryMiB ?? 'n/a'} | ${cell.rssMiB} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
