// Where the proxy's secrets come from: the OpenAI key and client keys (an existing cloud secret named in
// the spec, or a Pulumi secret config value the stack stores), and proxy.config (a local JSON file the
// stack stores, or an existing secret). Everything that can reject the spec is checked here, before any
// resource is declared.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { proxyFileSchema } from '../../service/proxy/config-file';
import { SpecError, type DeploymentSpec } from '../spec';
import { envSecret, fileSecret, SECRET_FILES, type SecretSource, type ServiceSecret } from './service-secrets';

/** PROXY_KEYS that no client key can match (no sha256 is all zeros): the proxy starts but admits nobody. */
export const NO_CLIENT_KEYS_PLACEHOLDER = `unset:${'0'.repeat(64)}`;

/** Secret stack config values, read as Pulumi secrets (`pulumi config set --secret NAME VALUE`). */
export interface ProxySecretConfig {
  readonly openaiApiKey?: pulumi.Output<string>;
  readonly proxyClientKeys?: pulumi.Output<string>;
}

/** Reads the secret config values the proxy needs from the project's stack config. */
export function readProxySecretConfig(config: pulumi.Config): ProxySecretConfig {
  return {
    openaiApiKey: config.getSecret('openaiApiKey'),
    proxyClientKeys: config.getSecret('proxyClientKeys'),
  };
}

/**
 * The OpenAI key and client keys as environment secrets. The OpenAI key has no safe placeholder (the proxy
 * refuses to start without one), so it must be given; client keys default to a placeholder that admits nobody.
 */
export function resolveProxySecrets(spec: DeploymentSpec, config: ProxySecretConfig): ServiceSecret[] {
  let openai: SecretSource;
  if (spec.proxy.openaiKeySecret !== undefined) {
    openai = { kind: 'existing', reference: spec.proxy.openaiKeySecret };
  } else if (config.openaiApiKey !== undefined) {
    openai = { kind: 'value', value: pulumi.secret(config.openaiApiKey) };
  } else {
    throw new SpecError(
      `spec "${spec.name}" deploys the proxy but names no OpenAI key: run ` +
        '`pulumi config set --secret openaiApiKey sk-...` or set proxy.openaiKeySecret to an existing secret.',
    );
  }
  const clientKeys: SecretSource =
    spec.proxy.clientKeysSecret !== undefined
      ? { kind: 'existing', reference: spec.proxy.clientKeysSecret }
      : { kind: 'value', value: pulumi.secret(config.proxyClientKeys ?? NO_CLIENT_KEYS_PLACEHOLDER) };
  return [envSecret('openai-api-key', openai, 'OPENAI_API_KEY'), envSecret('proxy-client-keys', clientKeys, 'PROXY_KEYS')];
}

/**
 * proxy.config as the PROXY_CONFIG_FILE secret, or undefined when the spec has none. A local file (relative
 * to `projectRoot`, like the stack's `spec`) is read and validated with the proxy's own schema now, so a
 * typo fails the preview instead of every replica's start; `maxBytes` is the secret store's value limit.
 */
export function proxyConfigSecret(spec: DeploymentSpec, projectRoot: string, maxBytes: number): ServiceSecret | undefined {
  const config = spec.proxy.config;
  if (config === undefined) return undefined;
  if ('secret' in config) return fileSecret('proxy-config', { kind: 'existing', reference: config.secret }, SECRET_FILES.proxyConfig);
  const file = path.resolve(projectRoot, config.file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SpecError(`spec "${spec.name}": proxy.config.file ${config.file} cannot be read (${reason}); paths are relative to ${projectRoot}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SpecError(`spec "${spec.name}": proxy.config.file ${config.file} is not JSON: ${(error as Error).message}`);
  }
  const parsed = proxyFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new SpecError(`spec "${spec.name}": proxy.config.file ${config.file} is not a valid proxy config: ${problems} (see deploy/proxy.example.json)`);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new SpecError(
      `spec "${spec.name}": proxy.config.file ${config.file} is ${bytes} bytes; ${spec.target}'s secret store holds at most ${maxBytes}. ` +
        'Move per-key entries to PROXY_KEYS (proxy.clientKeysSecret) or shorten the file.',
    );
  }
  return fileSecret('proxy-config', { kind: 'value', value: pulumi.secret(text) }, SECRET_FILES.proxyConfig);
}
