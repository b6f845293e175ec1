// The engine's defaults and the values its settings take, in one place: the engine, its worker client
// and the service's config read them (config.ts without loading onnxruntime).

/**
 * EXECUTION_PROVIDER: `cpu`; `cuda` (onnxruntime copies every feed to the GPU and every output back,
 * each step); `webgpu` (outputs stay on the device, so the KV cache does: device-kv/).
 */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** Sequences (choices or beams) decoded together at most. */
export const DEFAULT_MAX_BATCH_SIZE = 16;
/** Requests waiting for batch rows at most; beyond it a request is refused (429). */
export const DEFAULT_MAX_QUEUE = 64;
/**
 * Padded prompt tokens per prefill run while nothing decodes: bounds the `[rows, tokens, vocab]`
 * logits buffer to 256 x 50257 floats (51 MB) for GPT-2.
 */
export const DEFAULT_PREFILL_TOKENS = 256;
/**
 * Prompt tokens prefilled per step while other sequences decode: 'auto' sizes each chunk so that
 * such a step takes about twice a plain decode step (scheduler/chunk-budget.ts). What fits differs
 * by hardware, model and context: on 2 CPU cores a GPT-2-small decode step of a few rows costs
 * about as much as 8 to 16 prompt tokens, on a GPU hundreds.
 */
export const DEFAULT_PREFILL_CHUNK_TOKENS = 'auto';
/**
 * Seconds without a step from the worker, while requests are in flight, before it counts as hung.
 * Far above one step (a 256-token prefill chunk of gpt2-xl on 2 cores takes about 10 s).
 */
export const DEFAULT_WATCHDOG_SECONDS = 60;
/** Worker restarts allowed within 10 minutes before the service gives up and exits non-zero. */
export const DEFAULT_MAX_RESTARTS = 3;
