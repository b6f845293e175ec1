// Composes the active logits processors of a request in one fixed order:
// logit_bias -> repetition_penalty -> presence/frequency penalties -> temperature -> top_k -> top_p -> min_p.
// Bias and penalties change what the model "wants" and so come first (they also steer greedy and
// beam search); the warpers shape the sampling distribution and only run when temperature > 0.
import type { SamplingParams } from '../types';
import { LogitBiasProcessor } from './logit-bias';
import type { LogitsContext, LogitsProcessor } from './logits-processor';
import { MinPProcessor } from './min-p';
import { PresenceFrequencyPenaltyProcessor } from './presence-frequency-penalty';
import { RepetitionPenaltyProcessor } from './repetition-penalty';
import { TemperatureProcessor } from './temperature';
import { TopKProcessor } from './top-k';
import { TopPProcessor } from './top-p';

export interface LogitsPipeline {
  /** The active processors in the order they run (empty for plain greedy or plain sampling). */
  readonly processors: readonly LogitsProcessor[];
  process(logits: Float32Array, context: LogitsContext): void;
}

/**
 * The processors `params` turns on. Each holds per-sequence scratch buffers: create one pipeline
 * per choice or beam slot, not one per request shared across concurrent rows.
 */
export function createLogitsPipeline(params: SamplingParams): LogitsPipeline {
  const processors: LogitsProcessor[] = [];
  if (params.logitBias.size > 0) processors.push(new LogitBiasProcessor(params.logitBias));
  if (params.repetitionPenalty !== 1) processors.push(new RepetitionPenaltyProcessor(params.repetitionPenalty));
  if (params.presencePenalty !== 0 || params.frequencyPenalty !== 0) {
    processors.push(new PresenceFrequencyPenaltyProcessor(params.presencePenalty, params.frequencyPenalty));
  }
  if (params.temperature > 0) {
    if (params.temperature !== 1) processors.push(new TemperatureProcessor(params.temperature));
    if (params.topK > 0) processors.push(new TopKProcessor(params.topK));
    if (params.topP < 1) processors.push(new TopPProcessor(params.topP));
    if (params.minP > 0) processors.push(new MinPProcessor(params.minP));
  }
  return {
    processors,
    process(logits, context) {
      for (const processor of processors) processor.process(logits, context);
    },
  };
}
