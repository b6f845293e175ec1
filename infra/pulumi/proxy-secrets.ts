// Where the proxy's two secrets come from: an existing cloud secret named in the spec, or a Pulumi secret
// config value the stack stores in the cloud's secret store. Either way the container gets a reference only.
import * as pulumi from '@pulumi/pulumi';
import { SpecError, type DeploymentSpec } from '../spec';
import type { SecretEnvName } from './workload';

export type SecretSource =
  /** A Key Vault secret URI or Secret Manager secret id that already holds the value. */
  | { readonly kind: 'existing'; readonly reference: string }
  /** A value (a Pulumi secret) that the stack writes into a secret it creates. */
  | { readonly kind: 'value'; readonly value: pulumi.Output<string> };

export type ProxySecretSources = Readonly<Record<SecretEnvName, SecretSource>>;

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
 * Decides each proxy secret's source. The OpenAI key has no safe placeholder (the proxy refuses to start
 * without one), so it must be given; client keys default to a placeholder that admits nobody.
 */
export function resolveProxySecrets(spec: DeploymentSpec, config: ProxySecretConfig): ProxySecretSources {
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
  let clientKeys: SecretSource;
  if (spec.proxy.clientKeysSecret !== undefined) {
    clientKeys = { kind: 'existing', reference: spec.proxy.clientKeysSecret };
  } else {
    clientKeys = { kind: 'value', value: pulumi.secret(config.proxyClientKeys ?? NO_CLIENT_KEYS_PLACEHOLDER) };
  }
  return { OPENAI_API_KEY: openai, PROXY_KEYS: clientKeys };
}
