// The Azure pieces an endpoint stands on: resource group, Log Analytics, a container registry, and the
// user-assigned identity the app pulls images (and reads secrets) with.
import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import * as authorization from '@pulumi/azure-native/authorization';
import * as containerregistry from '@pulumi/azure-native/containerregistry';
import * as managedidentity from '@pulumi/azure-native/managedidentity';
import * as operationalinsights from '@pulumi/azure-native/operationalinsights';
import * as resources from '@pulumi/azure-native/resources';

/** Built-in role ids (the same in every tenant). */
export const AZURE_ROLES = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
} as const;

export function roleDefinitionId(subscriptionId: pulumi.Input<string>, roleId: string): pulumi.Output<string> {
  return pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`;
}

/** A short stable suffix for globally unique names (registry, vault): same subscription and name, same suffix. */
export function globalSuffix(subscriptionId: pulumi.Input<string>, name: string, length: number): pulumi.Output<string> {
  return pulumi
    .output(subscriptionId)
    .apply((id) => createHash('sha256').update(`${id}/${name}`).digest('hex').slice(0, length));
}

export interface AzureFoundationArgs {
  /** Prefix of every resource name (the spec's name). */
  readonly name: string;
  readonly location: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Log retention in the workspace. @default 30 */
  readonly logRetentionDays?: number;
}

export class AzureFoundation extends pulumi.ComponentResource {
  readonly resourceGroupName: pulumi.Output<string>;
  readonly subscriptionId: pulumi.Output<string>;
  readonly tenantId: pulumi.Output<string>;
  readonly workspaceCustomerId: pulumi.Output<string>;
  readonly workspaceSharedKey: pulumi.Output<string>;
  readonly registryLoginServer: pulumi.Output<string>;
  readonly identityId: pulumi.Output<string>;
  readonly identityPrincipalId: pulumi.Output<string>;
  /** Resources a Container App must wait for so its first image pull is authorised. */
  readonly pullGrants: pulumi.Resource[];

  constructor(name: string, args: AzureFoundationArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:Foundation', name, {}, opts);
    const client = authorization.getClientConfigOutput({ parent: this });
    this.subscriptionId = client.subscriptionId;
    this.tenantId = client.tenantId;
    const tags = { ...args.tags };

    const group = new resources.ResourceGroup(
      `${name}-rg`,
      { resourceGroupName: `${args.name}-rg`, location: args.location, tags },
      { parent: this },
    );
    this.resourceGroupName = group.name;

    const workspace = new operationalinsights.Workspace(
      `${name}-logs`,
      {
        resourceGroupName: group.name,
        workspaceName: `${args.name}-logs`,
        location: args.location,
        sku: { name: 'PerGB2018' },
        retentionInDays: args.logRetentionDays ?? 30,
        tags,
      },
      { parent: this },
    );
    this.workspaceCustomerId = workspace.customerId;
    const keys = operationalinsights.getSharedKeysOutput(
      { resourceGroupName: group.name, workspaceName: workspace.name },
      { parent: this },
    );
    this.workspaceSharedKey = pulumi.secret(keys.apply((k) => k.primarySharedKey ?? ''));

    // Registry names are global and alphanumeric only.
    const registry = new containerregistry.Registry(
      `${name}-acr`,
      {
        resourceGroupName: group.name,
        registryName: pulumi.interpolate`${args.name.replace(/-/g, '')}${globalSuffix(this.subscriptionId, args.name, 8)}`,
        location: args.location,
        sku: { name: 'Basic' },
        // Pulls use the identity below; no shared admin password exists to leak.
        adminUserEnabled: false,
        tags,
      },
      { parent: this },
    );
    this.registryLoginServer = registry.loginServer;

    const identity = new managedidentity.UserAssignedIdentity(
      `${name}-id`,
      { resourceGroupName: group.name, resourceName: `${args.name}-id`, location: args.location, tags },
      { parent: this },
    );
    this.identityId = identity.id;
    this.identityPrincipalId = identity.principalId;

    const acrPull = new authorization.RoleAssignment(
      `${name}-acr-pull`,
      {
        scope: registry.id,
        principalId: identity.principalId,
        principalType: 'ServicePrincipal',
        roleDefinitionId: roleDefinitionId(this.subscriptionId, AZURE_ROLES.acrPull),
      },
      { parent: this },
    );
    this.pullGrants = [acrPull];

    this.registerOutputs({
      resourceGroupName: this.resourceGroupName,
      registryLoginServer: this.registryLoginServer,
      identityId: this.identityId,
    });
  }
}
