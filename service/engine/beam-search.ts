// Beam search over one request, as Hugging Face's BeamSearchScorer does it: 2*numBeams candidates
// per step, finished hypotheses scored sum(logprobs) / length^lengthPenalty, early stop when no
// running beam can beat the worst kept hypothesis. Pure: the scheduler feeds it log-probabilities.
import { topKIndices, type Row } from './sampling/math';

export interface BeamSearchOptions {
  readonly numBeams: number;
  readonly lengthPenalty: number;
  /** Tokens to generate at most per beam. */
  readonly maxTokens: number;
  /** The token that finishes a hypothesis; undefined when generation must not stop on EOS. */
  readonly eosTokenId: number | undefined;
}

export interface BeamHypothesis {
  /** Generated tokens, without the EOS that finished it. */
  readonly tokens: readonly number[];
  /** Log-probability of each token in `tokens`. */
  readonly logprobs: readonly number[];
  readonly score: number;
  /** True when it ended on EOS, false when it ran out of tokens. */
  readonly endedOnEos: boolean;
}

interface RunningBeam {
  readonly tokens: number[];
  readonly logprobs: number[];
  readonly sumLogprobs: number;
}

/** Where each running beam came from after a step: the index of its parent among the previous beams. */
export interface BeamStep {
  readonly parents: readonly number[];
  /** The token each beam appended; the scheduler feeds these at the next step. */
  readonly tokens: readonly number[];
}

export class BeamSearch {
  private running: RunningBeam[] = [{ tokens: [], logprobs: [], sumLogprobs: 0 }];
  private readonly finished: BeamHypothesis[] = [];
  private finishedSearch = false;

  constructor(private readonly options: BeamSearchOptions) {
    if (options.numBeams < 1) throw new RangeError(`numBeams must be >= 1 (got ${options.numBeams})`);
  }

  /** True once no more steps are needed (enough hypotheses and none can improve, or max tokens). */
  get done(): boolean {
    return this.finishedSearch;
  }

  /** Tokens running beam `beam` generated so far (for penalties that look at them). */
  tokensOf(beam: number): readonly number[] {
    return this.running[beam]?.tokens ?? [];
  }

  /** Running beams' count: one before the first step, numBeams after it. */
  get width(): number {
    return this.running.length;
  }

  /**
   * Advances every running beam by one token. `logprobs[i]` is the log-softmax of running beam i's
   * next-token logits (before the first step there is one beam: the prompt).
   */
  step(logprobs: readonly Row[]): BeamStep {
    if (this.finishedSearch) throw new Error('beam search already finished');
    if (logprobs.length !== this.running.length) {
      throw new RangeError(`expected ${this.running.length} log-probability rows, got ${logprobs.length}`);
    }
    const { numBeams, eosTokenId } = this.options;
    const perBeam = 2 * numBeams;
    const candidates: { beam: number; token: number; logprob: number; total: number }[] = [];
    logprobs.forEach((row, beam) => {
      const base = this.running[beam]!.sumLogprobs;
      for (const token of topKIndices(row, perBeam)) {
        const logprob = row[token]!;
        candidates.push({ beam, token, logprob, total: base + logprob });
      }
    });
    // Stable order on ties (lower beam, then lower token first) keeps results deterministic.
    candidates.sort((a, b) => b.total - a.total || a.beam - b.beam || a.token - b.token);

    const next: RunningBeam[] = [];
    const parents: number[] = [];
    const tokens: number[] = [];
    for (const [rank, candidate] of candidates.slice(0, perBeam).entries()) {
      const parent = this.running[candidate.beam]!;
      if (candidate.token === eosTokenId) {
        // As in Hugging Face: an EOS ranked below the top numBeams is not a hypothesis worth keeping.
        if (rank < numBeams) this.addHypothesis(parent.tokens, parent.logprobs, candidate.total, true);
        continue;
      }
      next.push({
        tokens: [...parent.tokens, candidate.token],
        logprobs: [...parent.logprobs, candidate.logprob],
        sumLogprobs: candidate.total,
      });
      parents.push(candidate.beam);
      tokens.push(candidate.token);
      if (next.length === numBeams) break;
    }
    this.running = next;
    const length = next[0]?.tokens.length ?? 0;
    if (length >= this.options.maxTokens || next.length === 0) {
      for (const beam of next) this.addHypothesis(beam.tokens, beam.logprobs, beam.sumLogprobs, false);
      this.finishedSearch = true;
    } else if (this.cannotImprove(length)) {
      this.finishedSearch = true;
    }
    return { parents, tokens };
  }

  /** The best `n` hypotheses, best first. Call once `done`. */
  best(n: number): BeamHypothesis[] {
    return [...this.finished].sort((a, b) => b.score - a.score).slice(0, n);
  }

  private score(sumLogprobs: number, length: number): number {
    return sumLogprobs / Math.max(1, length) ** this.options.lengthPenalty;
  }

  private addHypothesis(tokens: readonly number[], logprobs: readonly number[], sumLogprobs: number, endedOnEos: boolean): void {
    const score = this.score(sumLogprobs, tokens.length);
    const { numBeams } = this.options;
    if (this.finished.length >= numBeams && score <= this.worstScore()) return;
    this.finished.push({ tokens: [...tokens], logprobs: [...logprobs], score, endedOnEos });
    if (this.finished.length > numBeams) {
      const worst = this.finished.reduce((w, h, i, all) => (h.score < all[w]!.score ? i : w), 0);
      this.finished.splice(worst, 1);
    }
  }

  private worstScore(): number {
    return this.finished.reduce((worst, h) => Math.min(worst, h.score), Infinity);
  }

  /** Hugging Face's `early_stopping=False` test: the best running beam, scored now, cannot beat the worst kept. */
  private cannotImprove(length: number): boolean {
    if (this.finished.length < this.options.numBeams) return false;
    const bestRunning = this.running.reduce((best, beam) => Math.max(best, beam.sumLogprobs), -Infinity);
    return this.worstScore() >= this.score(bestRunning, length);
  }
}
