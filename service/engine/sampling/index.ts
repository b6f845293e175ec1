// The sampling package's public surface: the sampler, the pipeline and the numeric kernels beam
// search and prompt logprobs reuse.
export { argmax, kthLargest, logSoftmax, logSumExp, maxValue, topKIndices, type Row } from './math';
export type { LogitsContext, LogitsProcessor } from './logits-processor';
export { createLogitsPipeline, type LogitsPipeline } from './pipeline';
export { drawFromLogits, Sampler, type SampledToken, type SamplerOptions, type TokenLogprob } from './sampler';
