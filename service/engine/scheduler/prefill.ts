// Prefill: runs new prompts through the model, chunk by chunk, into a KV cache of their own, with
// prompt logprobs on the way; once the whole prompt ran, its requests sample their first tokens.
import { logSoftmax, topKIndices } from '../sampling';
import type { ChoiceTokenizer } from '../choice-output';
import type { TokenInfo } from '../types';
import type { BatchCache, BatchModel, ForwardStep } from './batch-model';
import type { PlannedRow } from './batch-plan';
import type { BeamStepper } from './beam-rows';
import { firstRows } from './choice-step';
import type { ActiveRequest } from './request';

/**
 * Splits prompts (in arrival order) into prefill jobs of at most `budget` padded tokens: short
 * prompts next to each other share one left-padded run; a prompt longer than that runs alone, in
 * chunks.
 */
export function groupPrompts(requests: readonly ActiveRequest[], budget: number): ActiveRequest[][] {
  const groups: ActiveRequest[][] = [];
  let group: ActiveRequest[] = [];
  let longest = 0;
  for (const request of requests) {
    const length = request.promptIds.length;
    if (group.length > 0 && (group.length + 1) * Math.max(longest, length) > budget) {
      groups.push(group);
      group = [];
      longest = 0;
    }
    group.push(request);
    longest = Math.max(longest, length);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The prefill of one group of prompts: a single prompt runs in chunks, several prompts in one padded run. */
export class PrefillJob {
  private readonly lengths: number[];
  private readonly longest: number;
  private cache: BatchCache;
  /** Prompt positions run so far. */
  private start = 0;
  private last: ForwardStep | undefined;
  /** Prompt tokens with logprobs, per request that asked for them (the first token has none). */
  private readonly promptTokens: (TokenInfo[] | undefined)[];
  private readonly scratch: Float32Array | undefined;

  constructor(
    private readonly model: BatchModel,
    readonly requests: readonly ActiveRequest[],
  ) {
    this.lengths = requests.map((request) => request.promptIds.length);
    this.longest = Math.max(...this.lengths);
    this.cache = model.emptyCache(requests.length);
    this.promptTokens = requests.map((request) => {
      const { promptIds } = request;
      // An empty prompt (the engine started from EOS) has no prompt tokens to report.
      return request.params.promptLogprobs && request.userPromptIds.length > 0
        ? [{ tokenId: promptIds[0]!, text: request.tokenizer.tokenText(promptIds[0]!), logprob: null }]
        : undefined;
    });
    this.scratch = this.promptTokens.some(Boolean) ? new Float32Array(model.vocabSize) : undefined;
  }

  get done(): boolean {
    return this.start >= this.longest;
  }

  /** Every request of the job was cancelled: running the rest would be wasted. */
  get abandoned(): boolean {
    return this.requests.every((request) => request.cancelled || request.done);
  }

  /** Runs the next chunk; returns the padded tokens it ran. */
  async runChunk(maxTokens: number): Promise<number> {
    const rows = this.requests.length;
    // A shared run always runs whole (left padding needs an empty past); one prompt runs at most maxTokens of what is left.
    const seq = rows > 1 ? this.longest : Math.min(Math.max(1, maxTokens), this.longest - this.start);
    const start = this.start;
    const now = performance.now();
    for (const request of this.requests) request.scheduledAt ??= now;
    const ids = new BigInt64Array(rows * seq);
    const real = this.lengths.map((length) => Math.min(seq, length - start));
    this.requests.forEach((request, row) => {
      const padding = seq - real[row]!;
      for (let j = 0; j < real[row]!; j++) ids[row * seq + padding + j] = BigInt(request.promptIds[start + j]!);
    });
    const result = await this.model.forward(this.cache, ids, seq, real, this.scratch ? 'all' : 'last');
    this.cache = result.cache;
    this.last = result;
    this.start += seq;
    if (this.scratch) this.collectPromptLogprobs(result, start, seq, real, this.scratch);
    return rows * seq;
  }

  /**
   * After the last chunk: sends prompt logprobs, samples each live request's first tokens (or its
   * first beam step) and returns the rows that join the batch.
   */
  joiningRows(beams: BeamStepper): PlannedRow[] {
    const result = this.last;
    if (!result || !this.done) throw new Error('prefill is not finished');
    const now = performance.now();
    return this.requests.flatMap((request, row) => {
      if (request.cancelled || request.done) return [];
      if (request.params.promptLogprobs) request.output.push({ type: 'prompt', tokens: this.promptTokens[row] ?? [] });
      return firstRows(request, this.model.lastLogits(result, row), { cache: result.cache, row }, beams, now);
    });
  }

  private collectPromptLogprobs(result: ForwardStep, start: number, seq: number, real: readonly number[], scratch: Float32Array): void {
    this.requests.forEach((request, row) => {
      const tokens = this.promptTokens[row];
      if (!tokens) return;
      const padding = seq - real[row]!;
      for (let j = 0; j < real[row]! && start + j + 1 < this.lengths[row]!; j++) {
        const logprobs = logSoftmax(this.model.positionLogits(result, row, padding + j), scratch);
        tokens.push(tokenInfoFrom(request.tokenizer, logprobs, request.promptIds[start + j + 1]!, request.params.logprobs ?? 0));
      }
    });
  }
}

function tokenInfoFrom(tokenizer: ChoiceTokenizer, logprobs: Float32Array, tokenId: number, top: number): TokenInfo {
  return {
    tokenId,
    text: tokenizer.tokenText(tokenId),
    logprob: logprobs[tokenId]!,
    topLogprobs: topKIndices(logprobs, top).map((id) => ({ tokenId: id, text: tokenizer.tokenText(id), logprob: logprobs[id]! })),
  };
}
