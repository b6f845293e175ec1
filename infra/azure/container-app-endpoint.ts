// One autoscaling HTTPS endpoint on Azure Container Apps: a workload-profiles environment (with the
// serverless GPU profile when the replica needs one) and the Container App that runs the image.
import * as pulumi from '@pulumi/pulumi';
import * as app from '@pulumi/azure-native/app';
import type * as azureTypes from '@pulumi/azure-native/types';
import type { SecretEnvName } from '../pulumi/workload';
import { CONTAINER_PORT, LIVE_PATH, READY_PATH } from '../pulumi/workload';
import { CONSUMPTION_PROFILE, type WorkloadProfile } from './workload-profiles';

export interface ContainerAppEndpointArgs {
  /** The Container App's name (lowercase, hyphens). */
  readonly name: string;
  readonly location: string;
  readonly resourceGroupName: pulumi.Input<string>;
  readonly workspaceCustomerId: pulumi.Input<string>;
  readonly workspaceSharedKey: pulumi.Input<string>;
  /** The profile replicas run on; a GPU profile is added to the environment beside Consumption. */
  readonly profile: WorkloadProfile;
  /** Full image reference. */
  readonly image: pulumi.Input<string>;
  readonly registryLoginServer: pulumi.Input<string>;
  /** User-assigned identity (resource id) that pulls the image and reads Key Vault secrets. */
  readonly identityId: pulumi.Input<string>;
  readonly environment: Readonly<Record<string, string>>;
  /** Key Vault secret URIs, exposed to the container as these environment variables. @default none */
  readonly secretEnvironment?: Readonly<Partial<Record<SecretEnvName, pulumi.Input<string>>>>;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Concurrent requests per replica before the HTTP scale rule adds one. */
  readonly targetConcurrency: number;
  /** true: reachable from the internet; false: only from inside the environment. */
  readonly publicIngress: boolean;
  /** Seconds /ready may take on a new replica (model loading). */
  readonly startupBudgetSeconds: number;
  readonly drainSeconds: number;
  readonly tags: Readonly<Record<string, string>>;
  /** Grants (AcrPull, Key Vault read) the first revision needs in place. @default none */
  readonly dependsOn?: pulumi.Resource[];
}

/** Azure's probe limits: failureThreshold <= 10, initialDelaySeconds <= 60, periodSeconds <= 240. */
const PROBE_MAX_FAILURES = 10;
const PROBE_MAX_INITIAL_DELAY = 60;

/** Startup, readiness and liveness probes; the startup probe holds the others off while the model loads. */
export function containerAppProbes(startupBudgetSeconds: number): azureTypes.input.app.ContainerAppProbeArgs[] {
  const initialDelaySeconds = Math.min(PROBE_MAX_INITIAL_DELAY, Math.max(1, Math.floor(startupBudgetSeconds / 30)));
  const periodSeconds = Math.max(1, Math.ceil((startupBudgetSeconds - initialDelaySeconds) / PROBE_MAX_FAILURES));
  return [
    {
      type: 'Startup',
      httpGet: { path: READY_PATH, port: CONTAINER_PORT },
      initialDelaySeconds,
      periodSeconds,
      failureThreshold: PROBE_MAX_FAILURES,
      timeoutSeconds: Math.min(5, periodSeconds),
    },
    { type: 'Readiness', httpGet: { path: READY_PATH, port: CONTAINER_PORT }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 5 },
    { type: 'Liveness', httpGet: { path: LIVE_PATH, port: CONTAINER_PORT }, periodSeconds: 30, failureThreshold: 3, timeoutSeconds: 5 },
  ];
}

/** Container App secret names (lowercase, hyphens) for each environment variable. */
const SECRET_REF_NAMES: Readonly<Record<SecretEnvName, string>> = {
  OPENAI_API_KEY: 'openai-api-key',
  PROXY_KEYS: 'proxy-client-keys',
};

export class ContainerAppEndpoint extends pulumi.ComponentResource {
  /** https://FQDN of the app (internal FQDN when ingress is not public). */
  readonly url: pulumi.Output<string>;
  readonly environmentId: pulumi.Output<string>;
  readonly appName: pulumi.Output<string>;

  constructor(name: string, args: ContainerAppEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:ContainerAppEndpoint', name, {}, opts);
    if (args.minReplicas > args.maxReplicas) {
      throw new Error(`ContainerAppEndpoint ${name}: minReplicas ${args.minReplicas} exceeds maxReplicas ${args.maxReplicas}`);
    }
    const profiles: azureTypes.input.app.WorkloadProfileArgs[] = [{ name: CONSUMPTION_PROFILE.name, workloadProfileType: CONSUMPTION_PROFILE.type }];
    if (args.profile.name !== CONSUMPTION_PROFILE.name) {
      profiles.push({ name: args.profile.name, workloadProfileType: args.profile.type });
    }
    const environment = new app.ManagedEnvironment(
      `${name}-env`,
      {
        resourceGroupName: args.resourceGroupName,
        environmentName: `${args.name}-env`,
        location: args.location,
        workloadProfiles: profiles,
        appLogsConfiguration: {
          destination: 'log-analytics',
          logAnalyticsConfiguration: { customerId: args.workspaceCustomerId, sharedKey: args.workspaceSharedKey },
        },
        tags: { ...args.tags },
      },
      { parent: this },
    );
    this.environmentId = environment.id;

    const secretEntries = Object.entries(args.secretEnvironment ?? {}) as [SecretEnvName, pulumi.Input<string>][];
    const containerApp = new app.ContainerApp(
      `${name}-app`,
      {
        resourceGroupName: args.resourceGroupName,
        containerAppName: args.name,
        location: args.location,
        environmentId: environment.id,
        workloadProfileName: args.profile.name,
        identity: { type: 'UserAssigned', userAssignedIdentities: [args.identityId] },
        configuration: {
          activeRevisionsMode: 'Single',
          ingress: {
            external: args.publicIngress,
            targetPort: CONTAINER_PORT,
            transport: 'auto',
            allowInsecure: false,
          },
          registries: [{ server: args.registryLoginServer, identity: args.identityId }],
          // Key Vault references: Container Apps fetches the value with the identity; no value in the template.
          secrets: secretEntries.map(([env, uri]) => ({ name: SECRET_REF_NAMES[env], keyVaultUrl: uri, identity: args.identityId })),
        },
        template: {
          containers: [
            {
              name: 'server',
              image: args.image,
              env: [
                ...Object.entries(args.environment).map(([envName, value]) => ({ name: envName, value })),
                ...secretEntries.map(([env]) => ({ name: env, secretRef: SECRET_REF_NAMES[env] })),
              ],
              resources: { cpu: args.profile.cpu, memory: args.profile.memory },
              probes: containerAppProbes(args.startupBudgetSeconds),
            },
          ],
          scale: {
            minReplicas: args.minReplicas,
            maxReplicas: args.maxReplicas,
            rules: [{ name: 'http-concurrency', http: { metadata: { concurrentRequests: String(args.targetConcurrency) } } }],
          },
          // In-flight requests finish within the drain window before the replica is killed.
          terminationGracePeriodSeconds: Math.min(600, args.drainSeconds + 10),
        },
        tags: { ...args.tags },
      },
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.appName = containerApp.name;
    this.url = pulumi.interpolate`https://${containerApp.configuration.apply((c) => c?.ingress?.fqdn ?? '')}`;
    this.registerOutputs({ url: this.url, environmentId: this.environmentId });
  }
}
