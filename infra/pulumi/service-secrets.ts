// The secrets a deployed service reads, where each comes from (an existing cloud secret or a value the
// stack stores) and how it reaches the container (an environment variable or a file). Each cloud maps
// these onto its own secret store and its own secret references; the container never holds a value
// in its definition.
import type * as pulumi from '@pulumi/pulumi';

export type SecretSource =
  /** A Key Vault secret URI or Secret Manager secret id that already holds the value. */
  | { readonly kind: 'existing'; readonly reference: string }
  /** A value (a Pulumi secret) that the stack writes into a secret it creates. */
  | { readonly kind: 'value'; readonly value: pulumi.Output<string> };

/** A secret mounted as a file: `variable` holds the file's path, `directory/fileName`. */
export interface SecretFile {
  readonly variable: string;
  /** A directory of its own: Cloud Run mounts one secret per directory. */
  readonly directory: string;
  readonly fileName: string;
}

export type SecretDelivery = { readonly kind: 'env'; readonly variable: string } | ({ readonly kind: 'file' } & SecretFile);

export interface ServiceSecret {
  /** Name in the secret store and in the app's secret list: lowercase letters, digits, hyphens. */
  readonly name: string;
  readonly source: SecretSource;
  readonly delivery: SecretDelivery;
}

/**
 * Files rather than environment variables where the service accepts them: a file's value is not in the
 * process environment (which child processes inherit and crash reports dump), and a mounted file can
 * change under a running replica.
 */
export const SECRET_FILES = {
  /** Inference bearer keys, one per line (the service's API_KEYS_FILE). */
  apiKeys: { variable: 'API_KEYS_FILE', directory: '/secrets/api-keys', fileName: 'keys' },
  /** The proxy's keys, limits and models (PROXY_CONFIG_FILE); the proxy reloads it when it changes. */
  proxyConfig: { variable: 'PROXY_CONFIG_FILE', directory: '/secrets/proxy-config', fileName: 'config.json' },
  /** The CA that signed a private Redis's server certificate; Node adds it to its trust store at start. */
  redisCa: { variable: 'NODE_EXTRA_CA_CERTS', directory: '/secrets/redis-ca', fileName: 'ca.pem' },
} as const satisfies Record<string, SecretFile>;

export function secretFilePath(file: SecretFile): string {
  return `${file.directory}/${file.fileName}`;
}

export function fileSecret(name: string, source: SecretSource, file: SecretFile): ServiceSecret {
  return { name, source, delivery: { kind: 'file', ...file } };
}

export function envSecret(name: string, source: SecretSource, variable: string): ServiceSecret {
  return { name, source, delivery: { kind: 'env', variable } };
}

/** The plain variables that point the service at its secret files (API_KEYS_FILE=/secrets/api-keys/keys, ...). */
export function secretFileVariables(secrets: readonly ServiceSecret[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const secret of secrets) {
    if (secret.delivery.kind === 'file') variables[secret.delivery.variable] = secretFilePath(secret.delivery);
  }
  return variables;
}

/** A secret and the reference (Key Vault secret URI / Secret Manager id) its store gave it. */
export interface StoredSecret {
  readonly secret: ServiceSecret;
  readonly reference: pulumi.Output<string>;
}

/** The stored secrets delivered as files, with their file. */
export function storedFiles(stored: readonly StoredSecret[]): { readonly name: string; readonly reference: pulumi.Output<string>; readonly file: SecretFile }[] {
  return stored.flatMap(({ secret, reference }) => (secret.delivery.kind === 'file' ? [{ name: secret.name, reference, file: secret.delivery }] : []));
}

/** The stored secrets delivered as environment variables, with their variable. */
export function storedVariables(stored: readonly StoredSecret[]): { readonly name: string; readonly reference: pulumi.Output<string>; readonly variable: string }[] {
  return stored.flatMap(({ secret, reference }) => (secret.delivery.kind === 'env' ? [{ name: secret.name, reference, variable: secret.delivery.variable }] : []));
}
