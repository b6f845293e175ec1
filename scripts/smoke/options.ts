// Command-line options of `npm run smoke`, parsed once into a typed, validated SmokeOptions.
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const USAGE = `Smoke-test a running endpoint of this project (or any OpenAI-compatible one).

Usage: npm run smoke -- --url URL [options]

  --url URL               base URL of the service, e.g. http://127.0.0.1:8080 (a trailing /v1 is ignored)
  --api-key KEY           bearer key to send; also checks that a missing or wrong key gets 401
                          (default: $SMOKE_API_KEY)
  --variant NAME          inference | proxy (default inference); a proxy may answer with a dated
                          model name (gpt-4o-mini-2024-07-18), so only the prefix is compared
  --model NAME            model for the completion checks (default gpt2)
  --chat-model NAME       model for the chat check (default: --model)
  --timeout S             seconds to wait for /ready to return 200 (default 60)
  --request-timeout S     seconds each later request may take (default 60)
  --json FILE             also write the results as JSON (for CI)
  --help                  this text

Checks: ready, health, models, completion, completion (stream) read to [DONE], chat completion,
unknown model (404 model_not_found), and with --api-key: auth without a key, auth with a wrong key.
Exit status: 0 all passed, 1 a check failed, 2 the options were wrong.`;

const seconds = (flag: string) =>
  z.coerce.number({ error: `${flag} must be a number of seconds` }).positive(`${flag} must be more than 0 seconds`);

const optionsSchema = z.object({
  url: z
    .url({ protocol: /^https?$/, error: '--url must be an http(s) URL such as http://127.0.0.1:8080' })
    .transform((url) => url.replace(/\/+$/, '').replace(/\/v1$/, '')),
  apiKey: z.string().min(1).optional(),
  variant: z.enum(['inference', 'proxy'], { error: '--variant must be inference or proxy' }),
  model: z.string().min(1),
  chatModel: z.string().min(1),
  timeoutSeconds: seconds('--timeout'),
  requestTimeoutSeconds: seconds('--request-timeout'),
  jsonFile: z.string().min(1).optional(),
});
export type SmokeOptions = z.infer<typeof optionsSchema>;

export type ParsedCommandLine = { readonly help: true } | { readonly help: false; readonly options: SmokeOptions };

/** Throws an Error whose message says which option was wrong and how to fix it. */
export function parseSmokeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommandLine {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      url: { type: 'string' },
      'api-key': { type: 'string' },
      variant: { type: 'string', default: 'inference' },
      model: { type: 'string', default: 'gpt2' },
      'chat-model': { type: 'string' },
      timeout: { type: 'string', default: '60' },
      'request-timeout': { type: 'string', default: '60' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return { help: true };
  if (values.url === undefined) throw new Error('--url is required, e.g. --url http://127.0.0.1:8080 (see --help)');
  const parsed = optionsSchema.safeParse({
    url: values.url,
    apiKey: values['api-key'] ?? (env.SMOKE_API_KEY || undefined),
    variant: values.variant,
    model: values.model,
    chatModel: values['chat-model'] ?? values.model,
    timeoutSeconds: values.timeout,
    requestTimeoutSeconds: values['request-timeout'],
    jsonFile: values.json,
  });
  if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => issue.message).join('; '));
  return { help: false, options: parsed.data };
}
