// Request bodies of the inference variant's OpenAI-compatible API, parsed with zod: types and OpenAI's
// documented ranges are checked here, engine-specific limits in the engine. Unknown fields are
// stripped (clients send extras); wrong types are rejected. The proxy does not use these: it relays.
import { z } from 'zod';

const stop = z.union([z.string(), z.array(z.string()).max(4, 'stop accepts at most 4 sequences')]).nullish();

/** Keys of logit_bias are token ids written as strings, as in OpenAI's API. */
const logitBias = z
  .record(z.string().regex(/^\d+$/, 'logit_bias keys must be token ids'), z.number().min(-100).max(100))
  .nullish();

const streamOptions = z.object({ include_usage: z.boolean().nullish() }).nullish();

/** Parameters both endpoints share, with OpenAI's ranges; extensions (top_k, ...) follow vLLM's names. */
const samplingFields = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  stop,
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: logitBias,
  seed: z.number().int().safe().nullish(),
  user: z.string().nullish(),
  // Extensions in the style of vLLM and TGI.
  top_k: z.number().int().min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  use_beam_search: z.boolean().nullish(),
  best_of: z.number().int().min(1).max(128).nullish(),
  num_beams: z.number().int().min(1).max(16).nullish(),
  length_penalty: z.number().nullish(),
  ignore_eos: z.boolean().nullish(),
};

const tokenIds = z.array(z.number().int().min(0)).min(1);

export const completionRequestSchema = z.object({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  echo: z.boolean().nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
  suffix: z.string().nullish(),
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const messageContent = z.union([z.string(), z.array(textPart)]);

export const chatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: messageContent, name: z.string().optional() }),
  z.object({ role: z.literal('developer'), content: messageContent, name: z.string().optional() }),
  z.object({ role: z.literal('user'), content: messageContent, name: z.string().optional() }),
  z.object({ role: z.literal('assistant'), content: messageContent.nullish(), name: z.string().optional() }),
]);
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(chatMessageSchema).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

export const tokenizeRequestSchema = z.union([
  z.object({ model: z.string().optional(), prompt: z.string() }),
  z.object({ model: z.string().optional(), messages: z.array(chatMessageSchema).min(1) }),
]);
export type TokenizeRequest = z.infer<typeof tokenizeRequestSchema>;

export const detokenizeRequestSchema = z.object({ model: z.string().optional(), tokens: z.array(z.number().int().min(0)) });
export type DetokenizeRequest = z.infer<typeof detokenizeRequestSchema>;
