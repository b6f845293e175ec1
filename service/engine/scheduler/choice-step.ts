// Sampling glue: feeds a choice's logits to its sampler, records the token, and sends the events
// its ChoiceOutput releases (text deltas, the finish event).
import type { RowSource } from './batch-model';
import type { BeamStepper } from './beam-rows';
import type { PlannedRow } from './batch-plan';
import type { ActiveRequest, SampledChoice } from './request';

/** Samples the choice's next token and emits its events; the token to feed next, or undefined once it finished. */
export function sampleChoice(request: ActiveRequest, choice: SampledChoice, logits: Float32Array, now: number): number | undefined {
  const sampled = choice.sampler.sample(logits, { promptIds: request.promptIds, generatedIds: choice.generatedIds });
  choice.generatedIds.push(sampled.tokenId);
  for (const event of choice.output.accept(sampled)) request.emit(event, now);
  return choice.output.finished ? undefined : sampled.tokenId;
}

/**
 * The first step after a prompt's prefill: each choice samples its first token from the prompt's
 * last logits (all choices share the prompt's cache row), or the beam search takes its first step.
 */
export function firstRows(request: ActiveRequest, logits: Float32Array, source: RowSource, beams: BeamStepper, now: number): PlannedRow[] {
  request.firstTokenAt = now;
  if (request.beam) return beams.step(request, [logits], [source], now);
  const rows: PlannedRow[] = [];
  request.choices.forEach((choice, slot) => {
    const next = sampleChoice(request, choice, logits, now);
    if (next !== undefined) rows.push({ row: { request, slot, nextToken: next }, source });
  });
  return rows;
}
