// Engine metrics under vLLM's names (docs/design/metrics.md) so existing vLLM dashboards work.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Engine, FinishReason } from '../engine/types';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80];
const INTER_TOKEN_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5];

export interface RequestMetrics {
  /** Call when the first text of any choice is ready. */
  firstToken(): void;
  /** Call per delta carrying `tokenCount` tokens. */
  tokens(tokenCount: number): void;
  finish(reason: FinishReason, completionTokens: number): void;
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
        finish(reason, completionTokens) {
          generationTokens.inc(labels, completionTokens);
          finished.inc({ model_name: modelName, finished_reason: reason });
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
