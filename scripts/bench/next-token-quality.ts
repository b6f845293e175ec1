// How far a quantized graph's next-token distributions are from the fp32 graph's: both decode the
// same tokens (fp32's greedy choice, teacher-forced), step by step with their KV caches as in
// generation, and at every step we compare the two distributions. How peaked fp32's distributions
// are (entropy, top-1 probability) says how much a given KL or agreement means.
import * as ort from 'onnxruntime-node';
import { argmax, logSoftmax } from '../../service/engine/sampling';

export interface GraphQuality {
  /** Mean over positions of KL(p_fp32 || p_graph), in nats. */
  readonly meanKl: number;
  readonly maxKl: number;
  /** Share of positions whose argmax equals fp32's (greedy-token agreement). */
  readonly agreement: number;
  readonly positions: number;
}

/** fp32's own distributions over the same positions: near-uniform ones make any agreement fragile. */
export interface ReferenceSpread {
  /** Mean entropy in nats; ln(vocab) is uniform (10.8 for GPT-2's 50,257 tokens). */
  readonly meanEntropy: number;
  readonly uniformEntropy: number;
  /** Mean probability of the greedy token. */
  readonly meanTop1: number;
  /** Mean log-probability gap between the greedy token and the runner-up: how far a graph must move to flip it. */
  readonly meanTop2Gap: number;
}

export interface QualityReport {
  readonly reference: ReferenceSpread;
  readonly graphs: Readonly<Record<string, GraphQuality>>;
}

/** One graph's session, stepped one batch row at a time with its own cache. */
class Decoder {
  private feeds: Record<string, ort.Tensor> = {};
  private past = 0;

  private constructor(private readonly session: ort.InferenceSession) {}

  static async open(path: string, threads: number): Promise<Decoder> {
    return new Decoder(await ort.InferenceSession.create(path, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' }));
  }

  reset(): void {
    this.feeds = {};
    this.past = 0;
    for (const meta of this.session.inputMetadata) {
      if (!meta.isTensor || !meta.name.startsWith('past_key_values.')) continue;
      const [, heads, , headDim] = meta.shape;
      this.feeds[meta.name] = new ort.Tensor(meta.type as 'float32', new Float32Array(0), [1, Number(heads), 0, Number(headDim)]);
    }
  }

  /** Feeds `ids` and returns the log-probabilities after the last one. */
  async step(ids: readonly number[]): Promise<Float64Array> {
    const seq = ids.length;
    this.feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, seq]);
    this.feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(this.past + seq).fill(1n), [1, this.past + seq]);
    if (this.session.inputNames.includes('position_ids')) {
      this.feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: seq }, (_, i) => BigInt(this.past + i)), [1, seq]);
    }
    if (this.session.inputNames.includes('use_cache_branch')) this.feeds.use_cache_branch = new ort.Tensor('bool', [this.past > 0], [1]);
    const outputs = await this.session.run(this.feeds);
    for (const name of this.session.outputNames) {
      if (name.startsWith('present.')) this.feeds[name.replace('present.', 'past_key_values.')] = outputs[name] as ort.Tensor;
    }
    this.past += seq;
    const logits = outputs.logits as ort.Tensor;
    const vocab = Number(logits.dims[2]);
    return logSoftmax((logits.data as Float32Array).subarray((seq - 1) * vocab, seq * vocab), new Float64Array(vocab));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Entropy, top-1 probability and the top-1/top-2 log-probability gap of one distribution. */
function spread(logProbs: Float64Array): { entropy: number; top1: number; gap: number } {
  let entropy = 0;
  let first = -Infinity;
  let second = -Infinity;
  for (const lp of logProbs) {
    entropy -= Math.exp(lp) * lp;
    if (lp > first) [first, second] = [lp, first];
    else if (lp > second) second = lp;
  }
  return { entropy, top1: Math.exp(first), gap: first - second };
}

function klDivergence(reference: Float64Array, other: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = Math.exp(reference[i]!);
    if (p > 0) kl += p * (reference[i]! - other[i]!);
  }
  return kl;
}

/**
 * For each prompt, fp32 decodes `newTokens` greedy tokens and every other graph is fed the same
 * tokens; returns each graph's quality against fp32 over all those positions.
 */
export async function nextTokenQuality(fp32Graph: string, graphs: Readonly<Record<string, string>>, prompts: readonly (readonly number[])[], newTokens: number, threads: number): Promise<QualityReport> {
  const reference = await Decoder.open(fp32Graph, threads);
  const others = await Promise.all(Object.entries(graphs).map(async ([name, path]) => ({ name, decoder: await Decoder.open(path, threads), kl: [] as number[], agreed: 0 })));
  const spreads: { entropy: number; top1: number; gap: number }[] = [];
  let vocab = 0;
  try {
    for (const prompt of prompts) {
      reference.reset();
      for (const other of others) other.decoder.reset();
      let input: readonly number[] = prompt;
      for (let position = 0; position < newTokens; position++) {
        const expected = await reference.step(input);
        const token = argmax(expected);
        spreads.push(spread(expected));
        vocab = expected.length;
        for (const other of others) {
          const actual = await other.decoder.step(input);
          other.kl.push(klDivergence(expected, actual));
          if (argmax(actual) === token) other.agreed++;
        }
        input = [token];
      }
    }
    const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    return {
      reference: {
        meanEntropy: mean(spreads.map((s) => s.entropy)),
        uniformEntropy: Math.log(vocab),
        meanTop1: mean(spreads.map((s) => s.top1)),
        meanTop2Gap: mean(spreads.map((s) => s.gap)),
      },
      graphs: Object.fromEntries(
        others.map(({ name, kl, agreed }) => [name, { meanKl: mean(kl), maxKl: Math.max(...kl), agreement: agreed / kl.length, positions: kl.length }]),
      ),
    };
  } finally {
    await reference.release();
    for (const other of others) await other.decoder.release();
  }
}
