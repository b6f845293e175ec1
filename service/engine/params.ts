// Validates a request's sampling and stopping parameters once, up front, into the frozen
// `SamplingParams` every later stage trusts (vLLM's SamplingParams in spirit). Errors name the
// OpenAI field and the allowed range.
import { InvalidParameterError } from './errors';
import type { SamplingParams, SamplingParamsInput } from './types';

export const DEFAULT_MAX_TOKENS = 16;
export const MAX_STOP_SEQUENCES = 4;
export const MAX_LOGPROBS = 20;
export const MAX_N = 128;
export const MAX_BEAMS = 16;

export interface SamplingLimits {
  /** Token ids (e.g. logit_bias keys) must be below this. */
  readonly vocabSize: number;
}

export function createSamplingParams(input: SamplingParamsInput, limits: SamplingLimits): SamplingParams {
  const numBeams = integerIn('num_beams', input.numBeams, 1, 1, MAX_BEAMS);
  const n = integerIn('n', input.n, 1, 1, MAX_N);
  if (numBeams > 1 && n > numBeams) {
    throw new InvalidParameterError(
      'n',
      `n must be <= num_beams with beam search (got n=${n}, num_beams=${numBeams}); raise num_beams or lower n.`,
    );
  }
  const temperatureInput = present(input.temperature);
  if (numBeams > 1 && temperatureInput !== undefined && temperatureInput !== 0) {
    throw new InvalidParameterError(
      'temperature',
      `Beam search is deterministic: temperature must be 0 or unset when num_beams > 1 (got ${describe(temperatureInput)}).`,
    );
  }
  // With beams the default temperature is 0: beams expand the most likely tokens, nothing is drawn.
  const temperature = numberIn('temperature', temperatureInput, numBeams > 1 ? 0 : 1, 0, 2, 'between 0 and 2');

  const params: SamplingParams = {
    maxTokens: integerIn('max_tokens', input.maxTokens, DEFAULT_MAX_TOKENS, 1, Number.MAX_SAFE_INTEGER),
    temperature,
    topK: integerIn('top_k', input.topK, 0, 0, Number.MAX_SAFE_INTEGER),
    topP: numberIn('top_p', input.topP, 1, Number.MIN_VALUE, 1, 'greater than 0 and at most 1'),
    minP: numberIn('min_p', input.minP, 0, 0, 1, 'between 0 and 1'),
    repetitionPenalty: numberIn(
      'repetition_penalty',
      input.repetitionPenalty,
      1,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      'greater than 0 (1 disables it)',
    ),
    presencePenalty: numberIn('presence_penalty', input.presencePenalty, 0, -2, 2, 'between -2 and 2'),
    frequencyPenalty: numberIn('frequency_penalty', input.frequencyPenalty, 0, -2, 2, 'between -2 and 2'),
    logitBias: parseLogitBias(input.logitBias, limits.vocabSize),
    seed: parseSeed(input.seed),
    n,
    numBeams,
    lengthPenalty: numberIn('length_penalty', input.lengthPenalty, 1, -Number.MAX_VALUE, Number.MAX_VALUE, 'finite'),
    stop: parseStop(input.stop),
    stopOnEos: booleanOr('ignore_eos', input.stopOnEos, true),
    logprobs:
      present(input.logprobs) === undefined ? undefined : integerIn('logprobs', input.logprobs, 0, 0, MAX_LOGPROBS),
    promptLogprobs: booleanOr('echo', input.promptLogprobs, false),
  };
  return Object.freeze(params);
}

/** null and undefined both mean "not given" (OpenAI clients send explicit nulls). */
function present<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function numberIn(param: string, raw: unknown, fallback: number, min: number, max: number, range: string): number {
  const value = present(raw);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidParameterError(param, `${param} must be ${range} (got ${describe(value)}).`);
  }
  return value;
}

function integerIn(param: string, raw: unknown, fallback: number, min: number, max: number): number {
  const value = present(raw);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
    throw new InvalidParameterError(param, `${param} must be ${range} (got ${describe(value)}).`);
  }
  return value;
}

function booleanOr(param: string, raw: unknown, fallback: boolean): boolean {
  const value = present(raw);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new InvalidParameterError(param, `${param} must be a boolean (got ${describe(value)}).`);
  }
  return value;
}

function parseSeed(raw: unknown): number | undefined {
  const value = present(raw);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidParameterError(
      'seed',
      `seed must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (got ${describe(value)}).`,
    );
  }
  return value;
}

function parseLogitBias(
  raw: SamplingParamsInput['logitBias'] | null,
  vocabSize: number,
): ReadonlyMap<number, number> {
  const value = present(raw);
  const bias = new Map<number, number>();
  if (value === undefined) return bias;
  const entries: Iterable<[unknown, unknown]> =
    value instanceof Map
      ? value.entries()
      : typeof value === 'object' && !Array.isArray(value)
        ? Object.entries(value)
        : badLogitBias(value);
  for (const [key, amount] of entries) {
    const id = typeof key === 'number' ? key : typeof key === 'string' && /^\d+$/.test(key) ? Number(key) : Number.NaN;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidParameterError(
        'logit_bias',
        `logit_bias keys must be token ids from 0 to ${vocabSize - 1} (got ${describe(key)}).`,
      );
    }
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < -100 || amount > 100) {
      throw new InvalidParameterError(
        'logit_bias',
        `logit_bias values must be between -100 and 100 (got ${describe(amount)} for token ${id}).`,
      );
    }
    bias.set(id, amount);
  }
  return bias;
}

function badLogitBias(value: unknown): never {
  throw new InvalidParameterError(
    'logit_bias',
    `logit_bias must be an object mapping token ids to biases (got ${describe(value)}).`,
  );
}

function parseStop(raw: unknown): readonly string[] {
  const value = present(raw);
  if (value === undefined) return Object.freeze([]);
  const list: unknown[] | undefined = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (list === undefined || !list.every((s): s is string => typeof s === 'string')) {
    throw new InvalidParameterError(
      'stop',
      `Unknown stop type: stop must be a string or an array of up to ${MAX_STOP_SEQUENCES} strings ` +
        `(got ${JSON.stringify(value)}).`,
    );
  }
  if (list.length > MAX_STOP_SEQUENCES) {
    throw new InvalidParameterError('stop', `stop accepts at most ${MAX_STOP_SEQUENCES} sequences (got ${list.length}).`);
  }
  if (list.some((s) => s.length === 0)) {
    throw new InvalidParameterError(
      'stop',
      'stop sequences must be non-empty strings (an empty one would stop before any text).',
    );
  }
  return Object.freeze([...new Set(list)]);
}
