// Turns a validated OpenAI request into what the engine runs: prompt token ids and one
// SamplingParams object. OpenAI and vLLM field names map here and nowhere else.
import { createSamplingParams } from '../engine/params';
import { ContextLengthExceededError, InvalidParameterError } from '../engine/errors';
import type { Engine, SamplingParams, SamplingParamsInput } from '../engine/types';
import type { ChatCompletionRequest, CompletionRequest } from './schemas';
import type { ChatFormatter } from './chat-prompt';

/** OpenAI's default for /v1/completions; chat defaults to the rest of the context window. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;
/** Beam width when `use_beam_search` is set without `num_beams` or `best_of`. */
const DEFAULT_BEAM_WIDTH = 4;

export interface PlannedPrompt {
  readonly ids: readonly number[];
  /** The prompt as text (decoded when the client sent token ids), for `echo`. */
  readonly text: string;
}

export interface RequestPlan {
  readonly prompts: readonly PlannedPrompt[];
  readonly params: SamplingParams;
}

type SharedFields = Pick<
  CompletionRequest,
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'n'
  | 'stop'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'repetition_penalty'
  | 'logit_bias'
  | 'seed'
  | 'use_beam_search'
  | 'num_beams'
  | 'best_of'
  | 'length_penalty'
  | 'ignore_eos'
>;

/** Drops null/undefined so the engine's own defaults apply. */
function defined<T extends object>(fields: T): Partial<{ [K in keyof T]: NonNullable<T[K]> }> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined)) as Partial<{
    [K in keyof T]: NonNullable<T[K]>;
  }>;
}

function beamWidth(request: SharedFields): number | undefined {
  if (request.num_beams !== null && request.num_beams !== undefined) return request.num_beams;
  if (request.use_beam_search) return request.best_of ?? DEFAULT_BEAM_WIDTH;
  const n = request.n ?? 1;
  if (request.best_of !== null && request.best_of !== undefined && request.best_of !== n) {
    throw new InvalidParameterError(
      'best_of',
      'best_of different from n is only supported with beam search (set use_beam_search: true or num_beams).',
    );
  }
  return undefined;
}

function sharedSamplingInput(request: SharedFields): SamplingParamsInput {
  return {
    ...defined({
      temperature: request.temperature,
      topP: request.top_p,
      topK: request.top_k,
      minP: request.min_p,
      n: request.n,
      presencePenalty: request.presence_penalty,
      frequencyPenalty: request.frequency_penalty,
      repetitionPenalty: request.repetition_penalty,
      logitBias: request.logit_bias,
      seed: request.seed,
      numBeams: beamWidth(request),
      lengthPenalty: request.length_penalty,
    }),
    stop: request.stop ?? [],
    stopOnEos: request.ignore_eos !== true,
  };
}

function checkTokenIds(ids: readonly number[], engine: Engine): void {
  const bad = ids.find((id) => id >= engine.tokenizer.vocabSize);
  if (bad !== undefined) {
    throw new InvalidParameterError('prompt', `Token id ${bad} is out of range: the vocabulary has ${engine.tokenizer.vocabSize} tokens.`);
  }
}

function completionPrompts(prompt: CompletionRequest['prompt'], engine: Engine): PlannedPrompt[] {
  if (typeof prompt === 'string') return [{ ids: engine.tokenizer.encode(prompt), text: prompt }];
  if (prompt.length > 0 && prompt.every((item): item is string => typeof item === 'string')) {
    return prompt.map((text) => ({ ids: engine.tokenizer.encode(text), text }));
  }
  const idLists = prompt.every((item) => typeof item === 'number') ? [prompt as number[]] : (prompt as number[][]);
  return idLists.map((ids) => {
    checkTokenIds(ids, engine);
    return { ids, text: engine.tokenizer.decode(ids) };
  });
}

export function planCompletion(request: CompletionRequest, engine: Engine): RequestPlan {
  if (request.suffix) {
    throw new InvalidParameterError('suffix', 'suffix (insertion) is not supported by GPT-2; send the prompt only.');
  }
  const prompts = completionPrompts(request.prompt, engine);
  const params = createSamplingParams(
    {
      ...sharedSamplingInput(request),
      maxTokens: request.max_tokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS,
      ...defined({ logprobs: request.logprobs }),
      promptLogprobs: request.echo === true && request.logprobs !== null && request.logprobs !== undefined,
    },
    { vocabSize: engine.tokenizer.vocabSize },
  );
  return { prompts, params };
}

export function planChat(request: ChatCompletionRequest, engine: Engine, chat: ChatFormatter): RequestPlan {
  const { text, ids, turnStops } = chat.render(request.messages);
  const requested = request.max_completion_tokens ?? request.max_tokens;
  if (requested === null || requested === undefined) {
    // OpenAI's chat default: whatever the context has left.
    if (ids.length >= engine.contextLength) throw new ContextLengthExceededError(ids.length, 1, engine.contextLength);
  }
  const maxTokens = requested ?? engine.contextLength - ids.length;
  const wantsLogprobs = request.logprobs === true;
  if (!wantsLogprobs && request.top_logprobs !== null && request.top_logprobs !== undefined) {
    throw new InvalidParameterError('top_logprobs', 'top_logprobs requires logprobs to be true.');
  }
  const validated = createSamplingParams(
    {
      ...sharedSamplingInput(request),
      maxTokens,
      logprobs: wantsLogprobs ? (request.top_logprobs ?? 0) : undefined,
    },
    { vocabSize: engine.tokenizer.vocabSize },
  );
  // The turn stops are ours, not the client's: they do not count against its four.
  const params: SamplingParams = Object.freeze({ ...validated, stop: [...validated.stop, ...turnStops] });
  return { prompts: [{ ids, text }], params };
}
