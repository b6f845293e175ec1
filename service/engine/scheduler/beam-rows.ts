// Beam bookkeeping: turns one step's logits of a request's beams into the beams of the next step
// (each reading its parent's cache row), and emits the best beams once the search is done.
import { ChoiceOutput } from '../choice-output';
import type { RowSource } from './batch-model';
import { logSoftmax } from '../sampling';
import type { PlannedRow } from './batch-plan';
import type { ActiveRequest } from './request';

export class BeamStepper {
  /** One vocabulary row per beam, reused across steps (penalties need a private copy). */
  private readonly scratch: Float32Array[] = [];

  constructor(private readonly vocabSize: number) {}

  /** One beam-search step over the request's rows; none planned once the search is done (its events are sent). */
  step(request: ActiveRequest, logits: readonly Float32Array[], sources: readonly RowSource[], now: number): PlannedRow[] {
    const beam = request.beam!;
    const logprobs = logits.map((row, k) => {
      const scratch = (this.scratch[k] ??= new Float32Array(this.vocabSize));
      scratch.set(row);
      request.beamPipeline?.process(scratch, { promptIds: request.promptIds, generatedIds: beam.tokensOf(k) });
      return logSoftmax(scratch, scratch);
    });
    const step = beam.step(logprobs);
    if (beam.done) {
      beam.best(request.params.n).forEach((hypothesis, index) => {
        const output = new ChoiceOutput(index, request.params, request.eosTokenId, request.tokenizer, request.userPromptIds);
        for (const event of output.acceptBeam(hypothesis)) request.emit(event, now);
      });
      return [];
    }
    return step.parents.map((parent, slot) => ({ row: { request, slot, nextToken: step.tokens[slot]! }, source: sources[parent]! }));
  }
}
