// Engine metrics under vLLM's names (docs/design/metrics.md) so existing vLLM dashboards work.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ChoiceTimings, Engine, FinishReason } from '../engine/types';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80];
const INTER_TOKEN_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5];
/** vLLM's buckets for the request phase histograms (queue, prefill, decode). */
const REQUEST_PHASE_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
/** vLLM's buckets for time per output token. */
const TIME_PER_OUTPUT_TOKEN_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export interface RequestMetrics {
  /** Call when the first text of any choice is ready. */
  firstToken(): void;
  /** Call per delta carrying `tokenCount` tokens. */
  tokens(tokenCount: number): void;
  /** Call per finished choice; `timings` (from the scheduler) feed the phase histograms. */
  finish(reason: FinishReason, completionTokens: number, timings?: ChoiceTimings): void;
  /** Call once when the whole request is over (done, cancelled or failed). */
  end(): void;
}

export interface InferenceMetrics {
  startRequest(promptTokens: number): RequestMetrics;
}

export function createInferenceMetrics(registry: Registry, engine: Engine, modelName: string): InferenceMetrics {
  const labelNames = ['model_name'] as const;
  new Gauge({
    name: 'vllm:num_requests_running',
    help: 'Requests in the running batch.',
    labelNames,
    registers: [registry],
    collect() {
      this.set({ model_name: modelName }, engine.stats().running);
    },
  });
  new Gauge({
    name: 'vllm:num_requests_waiting',
    help: 'Requests waiting for a batch slot.',
    labelNames,
    registers: [registry],
    collect() {
      this.set({ model_name: modelName }, engine.stats().waiting);
    },
  });
  // The engine's running totals (they only grow, across worker restarts too): what came since the last scrape is added on.
  const seen = { toDevice: 0, toHost: 0, passes: 0 };
  const sinceLastScrape = (key: keyof typeof seen): number => {
    const total = engine.stats().transfers?.[key] ?? 0;
    const delta = total - seen[key];
    seen[key] = total;
    return delta;
  };
  new Counter({
    name: 'engine_host_device_bytes_total',
    help:
      'Bytes moved between host memory and the execution provider by forward passes and cache operations, by direction (to_device, to_host). ' +
      'cuda: every feed and output crosses PCIe each step; webgpu: only ids, masks, indices and the logits read back; cpu: what crosses the onnxruntime binding.',
    labelNames: ['model_name', 'direction'] as const,
    registers: [registry],
    collect() {
      this.inc({ model_name: modelName, direction: 'to_device' }, sinceLastScrape('toDevice'));
      this.inc({ model_name: modelName, direction: 'to_host' }, sinceLastScrape('toHost'));
    },
  });
  new Counter({
    name: 'engine_forward_passes_total',
    help: 'Forward passes (decode steps and prefill chunks); engine_host_device_bytes_total divided by it is bytes per step.',
    labelNames,
    registers: [registry],
    collect() {
      this.inc({ model_name: modelName }, sinceLastScrape('passes'));
    },
  });
  const timeToFirstToken = new Histogram({
    name: 'vllm:time_to_first_token_seconds',
    help: 'Time from request arrival to its first generated text.',
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const interToken = new Histogram({
    name: 'vllm:inter_token_latency_seconds',
    help: 'Time between successive generated tokens of a request.',
    labelNames,
    buckets: INTER_TOKEN_BUCKETS,
    registers: [registry],
  });
  const endToEnd = new Histogram({
    name: 'vllm:e2e_request_latency_seconds',
    help: 'Time from request arrival to its end.',
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const promptTokens = new Counter({
    name: 'vllm:prompt_tokens_total',
    help: 'Prompt tokens processed.',
    labelNames,
    registers: [registry],
  });
  const generationTokens = new Counter({
    name: 'vllm:generation_tokens_total',
    help: 'Tokens generated.',
    labelNames,
    registers: [registry],
  });
  const finished = new Counter({
    name: 'vllm:request_success_total',
    help: 'Finished choices by finish reason.',
    labelNames: ['model_name', 'finished_reason'] as const,
    registers: [registry],
  });
  // The phases are measured inside the engine (its worker's clock), per choice, as vLLM measures per sequence.
  const phase = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: [registry] });
  const queueTime = phase('vllm:request_queue_time_seconds', 'Time a request waited for batch rows and its turn to prefill (WAITING).', REQUEST_PHASE_BUCKETS);
  const prefillTime = phase('vllm:request_prefill_time_seconds', "Time from a request's first prefill run to its first generated token (PREFILL).", REQUEST_PHASE_BUCKETS);
  const decodeTime = phase('vllm:request_decode_time_seconds', "Time from a choice's first to its last generated token (DECODE).", REQUEST_PHASE_BUCKETS);
  const timePerOutputToken = phase(
    'vllm:time_per_output_token_seconds',
    "Each finished choice's mean time per output token after the first: decode time / (generated tokens - 1), measured in the engine.",
    TIME_PER_OUTPUT_TOKEN_BUCKETS,
  );
  const labels = { model_name: modelName };

  return {
    startRequest(promptTokenCount) {
      const started = performance.now();
      let last = started;
      let sawFirst = false;
      let ended = false;
      promptTokens.inc(labels, promptTokenCount);
      return {
        firstToken() {
          if (sawFirst) return;
          sawFirst = true;
          timeToFirstToken.observe(labels, (performance.now() - started) / 1000);
        },
        tokens(tokenCount) {
          if (tokenCount === 0) return;
          const now = performance.now();
          // A delta can carry several tokens (held back by a stop-string prefix): spread the gap.
          const gap = (now - last) / 1000 / tokenCount;
          for (let i = 0; i < tokenCount; i += 1) interToken.observe(labels, gap);
          last = now;
        },
        finish(reason, completionTokens, timings) {
          generationTokens.inc(labels, completionTokens);
          finished.inc({ model_name: modelName, finished_reason: reason });
          if (!timings) return;
          queueTime.observe(labels, timings.queueSeconds);
          prefillTime.observe(labels, timings.prefillSeconds);
          decodeTime.observe(labels, timings.decodeSeconds);
          if (completionTokens > 1) timePerOutputToken.observe(labels, timings.decodeSeconds / (completionTokens - 1));
        },
        end() {
          if (ended) return;
          ended = true;
          endToEnd.observe(labels, (performance.now() - started) / 1000);
        },
      };
    },
  };
}
