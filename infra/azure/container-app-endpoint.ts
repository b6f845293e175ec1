// One autoscaling HTTPS endpoint on Azure Container Apps: a workload-profiles environment (with the
// serverless GPU profile when the replica needs one, on the stack's virtual network when it has one) and the
// Container App that runs the image, its secrets as Key Vault references delivered as variables or files.
import * as pulumi from '@pulumi/pulumi';
import * as app from '@pulumi/azure-native/app';
import type * as azureTypes from '@pulumi/azure-native/types';
import { secretFileVariables, storedFiles, storedVariables, type StoredSecret } from '../pulumi/service-secrets';
import { CONTAINER_PORT, LIVE_PATH, READY_PATH } from '../pulumi/workload';
import type { ContainerAppsLifecycle } from './platform';
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
  /** The plain environment; the variables pointing at secret files are added from `secrets`. */
  readonly environment: Readonly<Record<string, string>>;
  /** Secrets with their Key Vault URIs, each delivered as its environment variable or file. @default none */
  readonly secrets?: readonly StoredSecret[];
  /** The environment's infrastructure subnet, for a stack that reaches private resources. @default none (Azure-managed network) */
  readonly infrastructureSubnetId?: pulumi.Input<string>;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Concurrent requests per replica before the HTTP scale rule adds one. */
  readonly targetConcurrency: number;
  /** true: reachable from the internet; false: only from inside the environment. */
  readonly publicIngress: boolean;
  /** Seconds /ready may take on a new replica (model loading). */
  readonly startupBudgetSeconds: number;
  /** Grace after SIGTERM (the service's drain comes from the same lifecycle). */
  readonly lifecycle: ContainerAppsLifecycle;
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

export class ContainerAppEndpoint extends pulumi.ComponentResource {
  /** https://FQDN of the app (internal FQDN when ingress is not public). */
  readonly url: pulumi.Output<string>;
  readonly environmentId: pulumi.Output<string>;
  readonly appName: pulumi.Output<string>;
  /** The Container App's resource id, the scope of its alerts and dashboard charts. */
  readonly appId: pulumi.Output<string>;

  constructor(name: string, args: ContainerAppEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:azure:ContainerAppEndpoint', name, {}, opts);
    if (args.minReplicas > args.maxReplicas) {
      throw new Error(`ContainerAppEndpoint ${name}: minReplicas ${args.minReplicas} exceeds maxReplicas ${args.maxReplicas}`);
    }
    const profiles: azureTypes.input.app.WorkloadProfileArgs[] = [{ name: CONSUMPTION_PROFILE.name, workloadProfileType: CONSUMPTION_PROFILE.type }];
    if (args.profile.name !== CONSUMPTION_PROFILE.name) {
      profiles.push({ name: args.profile.name, workloadProfileType: args.profile.type });
    }
    const managedEnvironment = new app.ManagedEnvironment(
      `${name}-env`,
      {
        resourceGroupName: args.resourceGroupName,
        environmentName: `${args.name}-env`,
        location: args.location,
        workloadProfiles: profiles,
        ...(args.infrastructureSubnetId === undefined
          ? {}
          : { vnetConfiguration: { infrastructureSubnetId: args.infrastructureSubnetId, internal: false } }),
        appLogsConfiguration: {
          destination: 'log-analytics',
          logAnalyticsConfiguration: { customerId: args.workspaceCustomerId, sharedKey: args.workspaceSharedKey },
        },
        tags: { ...args.tags },
      },
      { parent: this },
    );
    this.environmentId = managedEnvironment.id;

    const secrets = args.secrets ?? [];
    const files = storedFiles(secrets);
    const variables = { ...args.environment, ...secretFileVariables(secrets.map((stored) => stored.secret)) };
    const containerApp = new app.ContainerApp(
      `${name}-app`,
      {
        resourceGroupName: args.resourceGroupName,
        containerAppName: args.name,
        location: args.location,
        environmentId: managedEnvironment.id,
        workloadProfileName: args.profile.name,
        identity: { type: 'UserAssigned', userAssignedIdentities: [args.identityId] },
        configuration: {
          activeRevisionsMode: 'Single',
          // The API port only: METRICS_PORT has no port mapping, so /metrics is unreachable from outside the replica.
          ingress: {
            external: args.publicIngress,
            targetPort: CONTAINER_PORT,
            transport: 'auto',
            allowInsecure: false,
          },
          registries: [{ server: args.registryLoginServer, identity: args.identityId }],
          // Key Vault references: Container Apps fetches the value with the identity; no value in the template.
          secrets: secrets.map((stored) => ({ name: stored.secret.name, keyVaultUrl: stored.reference, identity: args.identityId })),
        },
        template: {
          containers: [
            {
              name: 'server',
              image: args.image,
              env: [
                ...Object.entries(variables).map(([envName, value]) => ({ name: envName, value })),
                ...storedVariables(secrets).map(({ name: secretName, variable }) => ({ name: variable, secretRef: secretName })),
              ],
              resources: { cpu: args.profile.cpu, memory: args.profile.memory },
              probes: containerAppProbes(args.startupBudgetSeconds),
              volumeMounts: files.map(({ name: volumeName, file }) => ({ volumeName, mountPath: file.directory })),
            },
          ],
          // One secret volume per file, each in a directory of its own (as on Cloud Run).
          volumes: files.map(({ name: secretName, file }) => ({
            name: secretName,
            storageType: 'Secret',
            secrets: [{ secretRef: secretName, path: file.fileName }],
          })),
          scale: {
            minReplicas: args.minReplicas,
            maxReplicas: args.maxReplicas,
            rules: [{ name: 'http-concurrency', http: { metadata: { concurrentRequests: String(args.targetConcurrency) } } }],
          },
          // SIGTERM to SIGKILL: the service drains for the longest request the spec allows, then exits.
          terminationGracePeriodSeconds: args.lifecycle.terminationGracePeriodSeconds,
        },
        tags: { ...args.tags },
      },
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.appName = containerApp.name;
    this.appId = containerApp.id;
    this.url = pulumi.interpolate`https://${containerApp.configuration.apply((c) => c?.ingress?.fqdn ?? '')}`;
    this.registerOutputs({ url: this.url, environmentId: this.environmentId });
  }
}
