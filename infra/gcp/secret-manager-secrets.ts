// The service's secrets in Secret Manager, each readable by the runtime service account only. Existing secrets
// (ids from the spec) get the same per-secret grant; their values are left alone.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import type { ServiceSecret, StoredSecret } from '../pulumi/service-secrets';

/** Secret Manager's limit on one version's payload (64 KiB). */
export const SECRET_MANAGER_MAX_SECRET_BYTES = 64 * 1024;

export interface SecretManagerSecretsArgs {
  readonly name: string;
  readonly project: string;
  /** The IAM member that reads the secrets (`serviceAccount:EMAIL`). */
  readonly readerMember: pulumi.Input<string>;
  readonly secrets: readonly ServiceSecret[];
  readonly labels: Readonly<Record<string, string>>;
  /** Resources (the Secret Manager API) to create secrets after. @default none */
  readonly dependsOn?: pulumi.Resource[];
}

export class SecretManagerSecrets extends pulumi.ComponentResource {
  /** Each secret with its id as Cloud Run references it (`secretKeyRef.secret`, a secret volume's `secret`). */
  readonly stored: readonly StoredSecret[];
  /** Resource names (`projects/P/secrets/ID`) of the secrets this stack created, by secret name. */
  readonly resourceNames: ReadonlyMap<string, pulumi.Output<string>>;
  /** Versions and grants the service must wait for so its first start can read the secrets. */
  readonly ready: pulumi.Resource[] = [];

  constructor(name: string, args: SecretManagerSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:SecretManagerSecrets', name, {}, opts);
    const resourceNames = new Map<string, pulumi.Output<string>>();
    this.stored = args.secrets.map((secret) => {
      let secretId: pulumi.Output<string>;
      if (secret.source.kind === 'existing') {
        secretId = pulumi.output(secret.source.reference);
      } else {
        const created = new gcp.secretmanager.Secret(
          `${name}-${secret.name}`,
          {
            project: args.project,
            secretId: `${args.name}-${secret.name}`,
            replication: { auto: {} },
            labels: { ...args.labels },
          },
          { parent: this, dependsOn: args.dependsOn ?? [] },
        );
        this.ready.push(
          new gcp.secretmanager.SecretVersion(`${name}-${secret.name}-v`, { secret: created.id, secretData: secret.source.value }, { parent: this }),
        );
        secretId = created.secretId;
        resourceNames.set(secret.name, created.id);
      }
      // Granted on the one secret, not the project: the service account reads nothing else.
      this.ready.push(
        new gcp.secretmanager.SecretIamMember(
          `${name}-${secret.name}-reader`,
          { project: args.project, secretId, role: 'roles/secretmanager.secretAccessor', member: args.readerMember },
          { parent: this },
        ),
      );
      return { secret, reference: secretId };
    });
    this.resourceNames = resourceNames;
    this.registerOutputs({ references: this.stored.map((entry) => entry.reference) });
  }
}
