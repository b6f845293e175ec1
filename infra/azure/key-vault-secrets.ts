// Secrets for the proxy in a Key Vault that uses Azure RBAC, readable by the app's identity only.
// Existing secrets (Key Vault URIs from the spec) are passed through untouched.
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';
import * as keyvault from '@pulumi/azure-native/keyvault';
import type { ProxySecretSources } from '../pulumi/proxy-secrets';
import type { SecretEnvName } from '../pulumi/workload';
import { AZURE_ROLES, globalSuffix, roleDefinitionId } from './foundation';

export interface KeyVaultSecretsArgs {
  readonly name: string;
  readonly location: string;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly tenantId: pulumi.Input<string>;
  readonly subscriptionId: pulumi.Input<string>;
  /** The principal that reads the secrets (the app's user-assigned identity). */
  readonly readerPrincipalId: pulumi.Input<string>;
  readonly sources: ProxySecretSources;
  readonly tags: Readonly<Record<string, string>>;
}

/** Key Vault secret names for each environment variable. */
const SECRET_NAMES: Readonly<Record<SecretEnvName, string>> = {
  OPENAI_API_KEY: 'openai-api-key',
  PROXY_KEYS: 'proxy-client-keys',
};

/** A vault name: 3-24 characters, starting with a letter, no double hyphen; global, hence the suffix. */
function vaultName(name: string, subscriptionId: pulumi.Input<string>): pulumi.Output<string> {
  const stem = name.slice(0, 13).replace(/-+$/, '');
  return pulumi.interpolate`${stem}-kv-${globalSuffix(subscriptionId, name, 7)}`;
}

export class KeyVaultSecrets extends pulumi.ComponentResource {
  /** Versionless secret URIs (rotation reaches new replicas without a deploy), by environment variable. */
  readonly secretUris: Readonly<Record<SecretEnvName, pulumi.Output<string>>>;
  /** Resources a Container App must wait for so its first start can read the secrets. */
  readonly readGrants: pulumi.Resource[] = [];

  constructor(name: string, args: KeyVaultSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:KeyVaultSecrets', name, {}, opts);
    // One vault, created only when the stack writes at least one secret itself.
    let vault: keyvault.Vault | undefined;
    const ensureVault = (): keyvault.Vault => {
      vault ??= this.createVault(name, args);
      return vault;
    };
    const uris = {} as Record<SecretEnvName, pulumi.Output<string>>;
    for (const env of Object.keys(args.sources) as SecretEnvName[]) {
      const source = args.sources[env];
      if (source.kind === 'existing') {
        // The vault that holds it is not ours: its owner grants Key Vault Secrets User to the identity.
        uris[env] = pulumi.output(source.reference);
        continue;
      }
      const secret = new keyvault.Secret(
        `${name}-${SECRET_NAMES[env]}`,
        {
          resourceGroupName: args.resourceGroupName,
          vaultName: ensureVault().name,
          secretName: SECRET_NAMES[env],
          properties: { value: source.value },
        },
        { parent: this },
      );
      uris[env] = secret.properties.apply((p) => p.secretUri);
    }
    this.secretUris = uris;
    this.registerOutputs({ secretUris: this.secretUris });
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
