// One request inside the scheduler: its prompt, its sampled choices or its beam search, the batch
// rows it holds, where its events go, and the times of its phases (queued, scheduled, first token).
import { BeamSearch } from '../beam-search';
import { ChoiceOutput, type ChoiceTokenizer } from '../choice-output';
import { createLogitsPipeline, Sampler, type LogitsPipeline } from '../sampling';
import type { ChoiceTimings, GenerationEvent, SamplingParams } from '../types';

/**
 * Where the scheduler sends one request's events: an EventChannel when the engine runs in-process,
 * the next step message when it runs in the worker process.
 */
export interface RequestOutput {
  push(event: GenerationEvent): void;
  end(): void;
  fail(error: unknown): void;
  /** The batch rows the request holds changed: reserved on admission, fewer as its choices finish. */
  rowsHeld?(rows: number): void;
}

export interface SampledChoice {
  readonly sampler: Sampler;
  readonly output: ChoiceOutput;
  readonly generatedIds: number[];
}

export class ActiveRequest {
  /** Batch rows it needs while it runs: n choices, or numBeams beams. */
  readonly rowsNeeded: number;
  readonly choices: SampledChoice[] = [];
  readonly eosTokenId: number;
  /** The model's tokenizer: its choices' text deltas and logprob token texts. */
  readonly tokenizer: ChoiceTokenizer;
  readonly beam: BeamSearch | undefined;
  /** Logit bias and penalties applied to every beam's logits before its log-softmax. */
  readonly beamPipeline: LogitsPipeline | undefined;
  rowsHeld = 0;
  cancelled = false;
  done = false;
  /** Removes the abort listener once the request is done. */
  detach: (() => void) | undefined;
  readonly arrivedAt = performance.now();
  /** First prefill run started; undefined while it waits. */
  scheduledAt: number | undefined;
  /** Prefill finished and the first tokens were sampled. */
  firstTokenAt: number | undefined;

  /**
   * @param promptIds what the model runs (EOS for an empty prompt)
   * @param userPromptIds the prompt as the caller gave it (empty when the engine started from EOS):
   *   the context of its choices' first text deltas
   */
  constructor(
    readonly promptIds: readonly number[],
    readonly userPromptIds: readonly number[],
    readonly params: SamplingParams,
    readonly output: RequestOutput,
    model: { readonly eosTokenId: number; readonly tokenizer: ChoiceTokenizer },
  ) {
    const { eosTokenId, tokenizer } = model;
    this.eosTokenId = eosTokenId;
    this.tokenizer = tokenizer;
    const beams = params.numBeams > 1;
    this.rowsNeeded = beams ? params.numBeams : params.n;
    this.beam = beams
      ? new BeamSearch({
          numBeams: params.numBeams,
          lengthPenalty: params.lengthPenalty,
          maxTokens: params.maxTokens,
          eosTokenId: params.stopOnEos ? eosTokenId : undefined,
        })
      : undefined;
    this.beamPipeline = beams ? createLogitsPipeline(params) : undefined;
    if (!beams) {
      for (let choice = 0; choice < params.n; choice++) {
        this.choices.push({ sampler: new Sampler(params, { choice }), output: new ChoiceOutput(choice, params, eosTokenId, tokenizer, userPromptIds), generatedIds: [] });
      }
    }
  }

  /** Choices still generating (sampling); the beam search runs until it is done. */
  get liveChoices(): number {
    return this.choices.filter((choice) => !choice.output.finished).length;
  }

  /** Tokens still to generate at most, for the overload retry-after estimate. */
  get remainingTokens(): number {
    const generated = this.beam ? 0 : Math.max(0, ...this.choices.map((choice) => choice.generatedIds.length));
    return this.params.maxTokens - generated;
  }

  /** Sends an event; a finish event gets the choice's phase timings, its last token sampled at `lastTokenAt`. */
  emit(event: GenerationEvent, lastTokenAt: number): void {
    if (event.type !== 'finish' || this.scheduledAt === undefined || this.firstTokenAt === undefined) {
      this.output.push(event);
      return;
    }
    const timings: ChoiceTimings = {
      queueSeconds: (this.scheduledAt - this.arrivedAt) / 1000,
      prefillSeconds: (this.firstTokenAt - this.scheduledAt) / 1000,
      decodeSeconds: Math.max(0, lastTokenAt - this.firstTokenAt) / 1000,
    };
    this.output.push({ ...event, timings });
  }

  setRowsHeld(rows: number): void {
    if (rows === this.rowsHeld) return;
    this.rowsHeld = rows;
    this.output.rowsHeld?.(rows);
  }
}
