// The response shapes the smoke test expects, as zod schemas: the parts of OpenAI's API a client relies on.
import { z } from 'zod';

const usage = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  total_tokens: z.number().int().min(0),
});

export const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ id: z.string().min(1), object: z.literal('model') })).min(1),
});

const finishReason = z.enum(['stop', 'length', 'content_filter', 'tool_calls', 'function_call']);

export const completionSchema = z.object({
  id: z.string().min(1),
  object: z.literal('text_completion'),
  created: z.number().int(),
  model: z.string().min(1),
  choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: finishReason })).min(1),
  usage,
});

export const completionChunkSchema = z.object({
  id: z.string().min(1),
  object: z.literal('text_completion'),
  model: z.string().min(1),
  choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: finishReason.nullable() })),
});

export const chatCompletionSchema = z.object({
  id: z.string().min(1),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string().min(1),
  choices: z
    .array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal('assistant'), content: z.string().nullable() }),
        finish_reason: finishReason,
      }),
    )
    .min(1),
  usage,
});

/** OpenAI's error envelope; `code` is checked by the caller when a specific one is expected. */
export const errorEnvelopeSchema = z.object({
  error: z.object({
    message: z.string().min(1),
    type: z.string().min(1),
    param: z.string().nullable().optional(),
    code: z.string().nullable().optional(),
  }),
});

/** One line of a zod error, for a failure message: `choices.0.text: expected string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
}
