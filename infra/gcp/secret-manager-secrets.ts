// Secrets for the proxy in Secret Manager, each readable by the runtime service account only.
// Existing secrets (ids from the spec) get the same per-secret grant; their values are left alone.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import type { ProxySecretSources } from '../pulumi/proxy-secrets';
import type { SecretEnvName } from '../pulumi/workload';

export interface SecretManagerSecretsArgs {
  readonly name: string;
  readonly project: string;
  /** The IAM member that reads the secrets (`serviceAccount:EMAIL`). */
  readonly readerMember: pulumi.Input<string>;
  readonly sources: ProxySecretSources;
  readonly labels: Readonly<Record<string, string>>;
  /** Resources (the Secret Manager API) to create secrets after. @default none */
  readonly dependsOn?: pulumi.Resource[];
}

const SECRET_SUFFIXES: Readonly<Record<SecretEnvName, string>> = {
  OPENAI_API_KEY: 'openai-api-key',
  PROXY_KEYS: 'proxy-client-keys',
};

export class SecretManagerSecrets extends pulumi.ComponentResource {
  /** Secret ids to reference from Cloud Run (`valueSource.secretKeyRef.secret`), by environment variable. */
  readonly secretIds: Readonly<Record<SecretEnvName, pulumi.Output<string>>>;
  /** Versions and grants the service must wait for so its first start can read the secrets. */
  readonly ready: pulumi.Resource[] = [];

  constructor(name: string, args: SecretManagerSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:SecretManagerSecrets', name, {}, opts);
    const ids = {} as Record<SecretEnvName, pulumi.Output<string>>;
    for (const env of Object.keys(args.sources) as SecretEnvName[]) {
      const source = args.sources[env];
      const suffix = SECRET_SUFFIXES[env];
      let secretId: pulumi.Output<string>;
      if (source.kind === 'existing') {
        secretId = pulumi.output(source.reference);
      } else {
        const secret = new gcp.secretmanager.Secret(
          `${name}-${suffix}`,
          {
            project: args.project,
            secretId: `${args.name}-${suffix}`,
            replication: { auto: {} },
            labels: { ...args.labels },
          },
          { parent: this, dependsOn: args.dependsOn ?? [] },
        );
        this.ready.push(
          new gcp.secretmanager.SecretVersion(`${name}-${suffix}-v`, { secret: secret.id, secretData: source.value }, { parent: this }),
        );
        secretId = secret.secretId;
      }
      // Granted on the one secret, not the project: the service account reads nothing else.
      this.ready.push(
        new gcp.secretmanager.SecretIamMember(
          `${name}-${suffix}-reader`,
          { project: args.project, secretId, role: 'roles/secretmanager.secretAccessor', member: args.readerMember },
          { parent: this },
        ),
      );
      ids[env] = secretId;
    }
    this.secretIds = ids;
    this.registerOutputs({ secretIds: this.secretIds });
  }
}
