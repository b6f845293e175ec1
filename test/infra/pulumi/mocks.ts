// Pulumi mocks for unit tests: record every registered resource (type, name, inputs, urn) and answer
// the provider calls and computed outputs the Azure and GCP programs read. No CLI, no cloud.
import * as pulumi from '@pulumi/pulumi';

export interface CapturedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly inputs: Record<string, any>;
}

export const PROJECT = 'gpt2-openai-toolkit';
export const STACK = 'test';
export const SUBSCRIPTION_ID = '00000000-0000-0000-0000-000000000001';
export const TENANT_ID = '00000000-0000-0000-0000-00000000000t';

/** Outputs a real provider computes; the programs read these. */
function computedOutputs(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (type) {
    case 'azure-native:containerregistry:Registry':
      return { loginServer: `${inputs.registryName}.azurecr.io` };
    case 'azure-native:managedidentity:UserAssignedIdentity':
      return { principalId: `${name}-principal`, clientId: `${name}-client` };
    case 'azure-native:operationalinsights:Workspace':
      return { customerId: `${name}-customer` };
    case 'azure-native:keyvault:Vault':
      return { name: inputs.vaultName };
    case 'azure-native:keyvault:Secret':
      return { properties: { secretUri: `https://${inputs.vaultName}.vault.azure.net/secrets/${inputs.secretName}` } };
    case 'azure-native:app:ContainerApp':
      return { configuration: { ...inputs.configuration, ingress: { ...inputs.configuration?.ingress, fqdn: `${inputs.containerAppName}.example.azurecontainerapps.io` } } };
    case 'gcp:serviceaccount/account:Account':
      return { email: `${inputs.accountId}@demo-project.iam.gserviceaccount.com` };
    case 'gcp:cloudrunv2/service:Service':
      return { uri: `https://${inputs.name}-abc123-uc.a.run.app` };
    case 'gcp:secretmanager/secret:Secret':
      return { secretId: inputs.secretId, id: `projects/demo-project/secrets/${inputs.secretId}` };
    default:
      return {};
  }
}

/** Installs the mocks and stack config; returns the live list that fills as resources register. */
export function installMocks(config: Record<string, string>, secretKeys: string[] = []): CapturedResource[] {
  const captured: CapturedResource[] = [];
  pulumi.runtime.setAllConfig(config, secretKeys);
  void pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const urn = `urn:pulumi:${STACK}::${PROJECT}::${args.type}::${args.name}`;
        captured.push({ type: args.type, name: args.name, urn, inputs: args.inputs });
        return { id: `${args.name}-id`, state: { ...args.inputs, ...computedOutputs(args.type, args.name, args.inputs) } };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        switch (args.token) {
          case 'azure-native:authorization:getClientConfig':
            return { subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID, clientId: 'client', objectId: 'object' };
          case 'azure-native:operationalinsights:getSharedKeys':
            return { primarySharedKey: 'workspace-shared-key' };
          default:
            throw new Error(`unmocked provider call ${args.token}`);
        }
      },
    },
    PROJECT,
    STACK,
    false,
  );
  return captured;
}

/** Resolves an Output in a test; an absent one is a failure. */
export function valueOf<T>(output: pulumi.Output<T> | undefined): Promise<T> {
  if (output === undefined) return Promise.reject(new Error('expected an output, got undefined'));
  return new Promise((resolve) => output.apply((value) => resolve(value)));
}

/** Waits until every pending registration and call has reached the mocks. */
export async function settle(): Promise<void> {
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}

export function ofType(resources: readonly CapturedResource[], type: string): CapturedResource[] {
  return resources.filter((resource) => resource.type === type);
}

export function onlyOfType(resources: readonly CapturedResource[], type: string): CapturedResource {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}
