// Reads the endpoint from what each tool printed or wrote: the CDK outputs file, `pulumi stack output
// --json`, and `docker compose port`. Parsed with zod; errors say what was expected and what came.
import { z } from 'zod';
import { StepError } from './errors';

const httpUrl = z.url({ protocol: /^https?$/ });

/** `cdk deploy --outputs-file F` writes `{ "<stack>": { "<OutputName>": "value", ... } }`. */
const cdkOutputsSchema = z.record(z.string(), z.record(z.string(), z.string()));

/** What the deploy command reads from the AWS stack's outputs (CONTRACT.md). */
export interface CdkEndpoint {
  readonly url: string;
  /** Inference: the Secrets Manager secret holding the API keys. */
  readonly apiKeysSecretArn?: string;
}

export function endpointFromCdkOutputs(text: string, stack: string, file: string): CdkEndpoint {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StepError(`cdk wrote ${file} but it is not JSON (${(error as Error).message})`);
  }
  const outputs = cdkOutputsSchema.safeParse(json);
  if (!outputs.success) throw new StepError(`${file} is not a CDK outputs file ({ "<stack>": { "<output>": "value" } })`);
  const stackOutputs = outputs.data[stack];
  const url = stackOutputs?.EndpointUrl;
  if (url === undefined) {
    throw new StepError(
      `${file} has no EndpointUrl output for stack ${stack} (stacks in it: ${Object.keys(outputs.data).join(', ') || 'none'})`,
    );
  }
  const parsed = httpUrl.safeParse(url);
  if (!parsed.success) throw new StepError(`stack ${stack} output EndpointUrl is not an http(s) URL: ${url}`);
  const apiKeysSecretArn = stackOutputs?.ApiKeysSecretArn;
  return { url: parsed.data, ...(apiKeysSecretArn === undefined ? {} : { apiKeysSecretArn }) };
}

/** The Pulumi program's outputs (infra/pulumi/index.ts); `url` is absent in a registryOnly stack. */
const pulumiOutputsSchema = z.object({
  url: httpUrl.optional(),
  registry: z.string().min(1).optional(),
  identity: z.string().min(1).optional(),
  /** Inference: Key Vault secret URI / Secret Manager secret name holding the API keys. */
  apiKeysSecret: z.string().min(1).optional(),
  apiKeysReadCommand: z.string().min(1).optional(),
  modelRevision: z.string().min(1).optional(),
});
export type PulumiOutputs = z.infer<typeof pulumiOutputsSchema>;

export function parsePulumiOutputs(text: string, stack: string): PulumiOutputs {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StepError(`pulumi stack output --json for stack ${stack} did not print JSON (${(error as Error).message}): ${text.slice(0, 200)}`);
  }
  const parsed = pulumiOutputsSchema.safeParse(json);
  if (!parsed.success) {
    throw new StepError(
      `stack ${stack} outputs are not what infra/pulumi/index.ts exports (url, registry, identity, apiKeysSecret, ...): ${parsed.error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')}`,
    );
  }
  return parsed.data;
}

/** `docker compose port SERVICE 8080` prints `127.0.0.1:8080` (the host side of the mapping). */
export function endpointFromComposePort(text: string, service: string): string {
  const line = text.trim().split(/\r?\n/).pop() ?? '';
  const match = /^(.+):(\d+)$/.exec(line.trim());
  if (match === null) throw new StepError(`compose port ${service} 8080 printed "${line}", not HOST:PORT: is the service running?`);
  // 0.0.0.0 and :: mean every interface; the smoke test reaches them on loopback.
  const host = match[1] === '0.0.0.0' || match[1] === '::' || match[1] === '[::]' ? '127.0.0.1' : match[1];
  return `http://${host}:${match[2]}`;
}
