// The service's secrets in a Key Vault that uses Azure RBAC, readable by the app's identity only. Secrets the
// spec names (existing Key Vault URIs) are passed through untouched; the vault is created only when the stack
// writes at least one value itself.
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';
import * as keyvault from '@pulumi/azure-native/keyvault';
import type { ServiceSecret, StoredSecret } from '../pulumi/service-secrets';
import { AZURE_ROLES, globalSuffix, roleDefinitionId } from './foundation';

/** Key Vault's limit on one secret's value (25 KB). */
export const KEY_VAULT_MAX_SECRET_BYTES = 25 * 1024;

export interface KeyVaultSecretsArgs {
  readonly name: string;
  readonly location: string;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly tenantId: pulumi.Input<string>;
  readonly subscriptionId: pulumi.Input<string>;
  /** The principal that reads the secrets (the app's user-assigned identity). */
  readonly readerPrincipalId: pulumi.Input<string>;
  readonly secrets: readonly ServiceSecret[];
  readonly tags: Readonly<Record<string, string>>;
}

/** A vault name: 3-24 characters, starting with a letter, no double hyphen; global, hence the suffix. */
function vaultName(name: string, subscriptionId: pulumi.Input<string>): pulumi.Output<string> {
  const stem = name.slice(0, 13).replace(/-+$/, '');
  return pulumi.interpolate`${stem}-kv-${globalSuffix(subscriptionId, name, 7)}`;
}

export class KeyVaultSecrets extends pulumi.ComponentResource {
  /** Each secret with its versionless URI (a new version reaches replicas without a deploy). */
  readonly stored: readonly StoredSecret[];
  /** Resources a Container App must wait for so its first start can read the secrets. */
  readonly readGrants: pulumi.Resource[] = [];

  constructor(name: string, args: KeyVaultSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:KeyVaultSecrets', name, {}, opts);
    let vault: keyvault.Vault | undefined;
    const ensureVault = (): keyvault.Vault => {
      vault ??= this.createVault(name, args);
      return vault;
    };
    this.stored = args.secrets.map((secret) => {
      if (secret.source.kind === 'existing') {
        // The vault that holds it is not ours: its owner grants Key Vault Secrets User to the identity.
        return { secret, reference: pulumi.output(secret.source.reference) };
      }
      const stored = new keyvault.Secret(
        `${name}-${secret.name}`,
        {
          resourceGroupName: args.resourceGroupName,
          vaultName: ensureVault().name,
          secretName: secret.name,
          properties: { value: secret.source.value },
        },
        { parent: this },
      );
      return { secret, reference: stored.properties.apply((p) => p.secretUri) };
    });
    this.registerOutputs({ references: this.stored.map((entry) => entry.reference) });
  }

  private createVault(name: string, args: KeyVaultSecretsArgs): keyvault.Vault {
    const vault = new keyvault.Vault(
      `${name}-kv`,
      {
        resourceGroupName: args.resourceGroupName,
        vaultName: vaultName(args.name, args.subscriptionId),
        location: args.location,
        properties: {
          tenantId: args.tenantId,
          sku: { family: 'A', name: 'standard' },
          // Access by Azure RBAC role assignments, not vault access policies.
          enableRbacAuthorization: true,
          softDeleteRetentionInDays: 7,
        },
        tags: { ...args.tags },
      },
      { parent: this },
    );
    this.readGrants.push(
      new authorization.RoleAssignment(
        `${name}-kv-read`,
        {
          scope: vault.id,
          principalId: args.readerPrincipalId,
          principalType: 'ServicePrincipal',
          roleDefinitionId: roleDefinitionId(args.subscriptionId, AZURE_ROLES.keyVaultSecretsUser),
        },
        { parent: this },
      ),
    );
    return vault;
  }
}
