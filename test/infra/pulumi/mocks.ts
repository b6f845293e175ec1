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
/** The mock Azure Managed Redis access key: base64 with the characters a URL must escape. */
export const MANAGED_REDIS_KEY = 'ab+cd/ef==';
/** The mock Memorystore AUTH string and the PEM of its CA. */
export const MEMORYSTORE_AUTH = 'memorystore-auth/string';
export const MEMORYSTORE_CA = '-----BEGIN CERTIFICATE-----\nMOCKCA\n-----END CERTIFICATE-----';

/** The value a mocked RandomPassword resolves to. */
export function generatedPassword(name: string): string {
  return `generated-${name}`;
}

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
    case 'random:index/randomPassword:RandomPassword':
      return { result: generatedPassword(name) };
    case 'azure-native:redisenterprise:RedisEnterprise':
      return { name: inputs.clusterName, hostName: `${inputs.clusterName}.${inputs.location}.redis.azure.net` };
    case 'azure-native:redisenterprise:Database':
      return { name: inputs.databaseName };
    case 'azure-native:network:PrivateEndpoint':
      return { name: inputs.privateEndpointName };
    case 'azure-native:privatedns:PrivateZone':
      return { name: inputs.privateZoneName };
    case 'gcp:redis/instance:Instance':
      return { host: '10.9.0.3', port: 6378, authString: MEMORYSTORE_AUTH, serverCaCerts: [{ cert: MEMORYSTORE_CA }] };
    case 'gcp:compute/network:Network':
    case 'gcp:compute/subnetwork:Subnetwork':
      // Without a name in the inputs, the provider auto-names the resource after its Pulumi name.
      return { name: inputs.name ?? `${name}-1a2b3c4` };
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
        const computed = computedOutputs(args.type, args.name, args.inputs);
        // A provider's id where the programs read it (a secret's resource name), else a stable fake one.
        const id = typeof computed.id === 'string' ? computed.id : `${args.name}-id`;
        return { id, state: { ...args.inputs, ...computed } };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        switch (args.token) {
          case 'azure-native:authorization:getClientConfig':
            return { subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID, clientId: 'client', objectId: 'object' };
          case 'azure-native:operationalinsights:getSharedKeys':
            return { primarySharedKey: 'workspace-shared-key' };
          case 'azure-native:redisenterprise:listDatabaseKeys':
            return { primaryKey: MANAGED_REDIS_KEY, secondaryKey: 'secondary' };
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

/** The key and value Pulumi marks a secret input with when it serializes it (runtime/rpc.ts). */
const SPECIAL_SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

/** A captured input with every secret unwrapped: an object holding a secret arrives wrapped with Pulumi's secret signature. */
export function revealed(input: any): any {
  if (Array.isArray(input)) return input.map(revealed);
  if (typeof input !== 'object' || input === null) return input;
  if (input[SPECIAL_SIG_KEY] === SECRET_SIG) return revealed(input.value);
  return Object.fromEntries(Object.entries(input).map(([key, value]) => [key, revealed(value)]));
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
