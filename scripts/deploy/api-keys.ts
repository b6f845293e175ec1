// Where a deployed inference endpoint's API key lives (Secrets Manager, Key Vault, Secret Manager), the cloud CLI
// command that reads it, and reading it for the smoke test. The key itself is never printed or written.
import { parseApiKeys } from '../../service/config';
import type { DeploymentSpec } from '../../infra/spec';
import { StepError } from './errors';
import { formatCommand, lastLine, type Command, type CommandRunner } from './runner';

export type SecretStore = 'aws' | 'azure' | 'gcp';

/** A secret holding the inference API keys (comma- or newline-separated, as API_KEYS_FILE reads them). */
export interface ApiKeysSecret {
  readonly store: SecretStore;
  /** Secrets Manager ARN, Key Vault secret URI, or Secret Manager secret id / `projects/P/secrets/NAME`. */
  readonly reference: string;
}

const STORE_NAMES: Readonly<Record<SecretStore, string>> = { aws: 'Secrets Manager', azure: 'Key Vault', gcp: 'Secret Manager' };
/** The stack output that holds the reference (CONTRACT.md). */
const OUTPUT_NAMES: Readonly<Record<SecretStore, string>> = { aws: 'ApiKeysSecretArn', azure: 'apiKeysSecret', gcp: 'apiKeysSecret' };
/** What the dry run writes in place of a reference the stack will only create. */
const PLACEHOLDERS: Readonly<Record<SecretStore, string>> = { aws: 'ARN', azure: 'URI', gcp: 'projects/PROJECT/secrets/SECRET' };

const GCP_RESOURCE_NAME = /^projects\/([^/]+)\/secrets\/([^/]+)$/;

/** The command that prints the secret's current value. */
export function apiKeysReadCommand({ store, reference }: ApiKeysSecret): Command {
  switch (store) {
    case 'aws':
      return { tool: 'aws', args: ['secretsmanager', 'get-secret-value', '--secret-id', reference, '--query', 'SecretString', '--output', 'text'] };
    case 'azure':
      return { tool: 'az', args: ['keyvault', 'secret', 'show', '--id', reference, '--query', 'value', '-o', 'tsv'] };
    case 'gcp': {
      // A full resource name carries its project; a bare id is looked up in gcloud's configured project.
      const named = GCP_RESOURCE_NAME.exec(reference);
      const secret = named === null ? ['--secret', reference] : ['--secret', named[2]!, '--project', named[1]!];
      return { tool: 'gcloud', args: ['secrets', 'versions', 'access', 'latest', ...secret] };
    }
  }
}

/** For the result and the summary: where the key lives and how to read it, never the key. */
export interface ApiKeysLocation {
  readonly where: string;
  readonly readCommand: string;
}

export function locate(secret: ApiKeysSecret): ApiKeysLocation {
  return { where: `${STORE_NAMES[secret.store]} secret ${secret.reference}`, readCommand: formatCommand(apiKeysReadCommand(secret)) };
}

/** Before deploying: the secret the spec names, or the one the stack will create (and the output that will name it). */
export function plannedApiKeys(spec: DeploymentSpec): ApiKeysLocation | undefined {
  if (spec.variant !== 'inference' || spec.target === 'local') return undefined;
  const store: SecretStore = spec.target;
  if (spec.auth.apiKeysSecret !== undefined) {
    const existing = locate({ store, reference: spec.auth.apiKeysSecret });
    return { ...existing, where: `the existing ${existing.where} (auth.apiKeysSecret)` };
  }
  return {
    where: `a ${STORE_NAMES[store]} secret the stack creates with a generated key; stack output ${OUTPUT_NAMES[store]} names it`,
    readCommand: formatCommand(apiKeysReadCommand({ store, reference: PLACEHOLDERS[store] })),
  };
}

/** Reads the secret with the cloud's CLI (output kept, never shown) and returns its first key. */
export async function readApiKey(secret: ApiKeysSecret, runner: CommandRunner): Promise<string> {
  const command = apiKeysReadCommand(secret);
  const result = await runner(command, { quiet: true });
  const fix = `give this identity read access to it, or pass the key with --api-key`;
  if (result.code !== 0) {
    const said = lastLine(result.stderr);
    throw new StepError(`cannot read the API key from ${locate(secret).where} (\`${formatCommand(command)}\` exited ${result.code}: ${said}): ${fix}`);
  }
  const key = parseApiKeys(result.stdout)[0];
  if (key === undefined) throw new StepError(`${locate(secret).where} holds no API key: put one in it (keys separated by commas or newlines), or pass --api-key`);
  return key;
}
