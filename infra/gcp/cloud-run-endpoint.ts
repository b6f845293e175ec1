// One autoscaling HTTPS endpoint on Cloud Run (v2): GPU or CPU instance, probes, concurrency-based scaling,
// secrets as Secret Manager references (variables or files), optional Direct VPC egress and sidecar, and
// the invoker IAM check left on unless the spec asks for a public endpoint.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import { secretFileVariables, storedFiles, storedVariables, type StoredSecret } from '../pulumi/service-secrets';
import { CONTAINER_PORT, LIVE_PATH, READY_PATH } from '../pulumi/workload';
import type { InstanceShape } from './accelerators';
import type { CloudRunLifecycle } from './platform';

export interface CloudRunEndpointArgs {
  /** The service's name. */
  readonly name: string;
  readonly project: string;
  readonly region: string;
  /** Full image reference. */
  readonly image: pulumi.Input<string>;
  readonly shape: InstanceShape;
  readonly serviceAccountEmail: pulumi.Input<string>;
  /** The plain environment; the variables pointing at secret files are added from `secrets`. */
  readonly environment: Readonly<Record<string, string>>;
  /** Secrets with their Secret Manager ids, each delivered as its environment variable or file. @default none */
  readonly secrets?: readonly StoredSecret[];
  readonly minInstances: number;
  readonly maxInstances: number;
  /** Requests one instance serves at once; Cloud Run adds instances beyond it. */
  readonly concurrency: number;
  /**
   * true: anyone may invoke (the invoker IAM check is disabled, which works under the "Domain restricted
   * sharing" organization policy where an allUsers binding is refused); false: only callers granted
   * roles/run.invoker.
   */
  readonly publicInvoker: boolean;
  /**
   * Keep spare GPU capacity in other zones so instances survive a zone outage; billed extra.
   * @default false (zonal redundancy disabled: cheaper, and the GPU quota asked for is the non-redundant one)
   */
  readonly gpuZonalRedundancy?: boolean;
  /** Seconds /ready may take on a new instance (model loading). */
  readonly startupBudgetSeconds: number;
  /** The request timeout (the service's drain and keep-alive come from the same lifecycle). */
  readonly lifecycle: CloudRunLifecycle;
  /** Direct VPC egress for private ranges (Memorystore). @default none */
  readonly vpcEgress?: { readonly network: pulumi.Input<string>; readonly subnetwork: pulumi.Input<string> };
  /** A sidecar container and the volume it mounts (the Prometheus collector). @default none */
  readonly sidecar?: {
    readonly container: gcp.types.input.cloudrunv2.ServiceTemplateContainer;
    readonly volume: gcp.types.input.cloudrunv2.ServiceTemplateVolume;
  };
  readonly labels: Readonly<Record<string, string>>;
  /** APIs, grants and secret versions the first revision needs. @default none */
  readonly dependsOn?: pulumi.Resource[];
}

/** The serving container's name (a sidecar's dependsOns names it). */
export const SERVER_CONTAINER = 'server';

/** Cloud Run caps a startup probe's failureThreshold x periodSeconds at 240 s; initialDelaySeconds adds up to 240 s. */
const STARTUP_WINDOW_MAX = 240;

export function cloudRunStartupProbe(startupBudgetSeconds: number): gcp.types.input.cloudrunv2.ServiceTemplateContainerStartupProbe {
  const initialDelaySeconds = Math.max(0, Math.min(STARTUP_WINDOW_MAX, startupBudgetSeconds - STARTUP_WINDOW_MAX));
  const periodSeconds = startupBudgetSeconds >= 120 ? 10 : 5;
  const failureThreshold = Math.max(1, Math.floor(Math.min(STARTUP_WINDOW_MAX, startupBudgetSeconds - initialDelaySeconds) / periodSeconds));
  return { httpGet: { path: READY_PATH, port: CONTAINER_PORT }, initialDelaySeconds, periodSeconds, failureThreshold, timeoutSeconds: 5 };
}

export class CloudRunEndpoint extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;

  constructor(name: string, args: CloudRunEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gpt2:gcp:CloudRunEndpoint', name, {}, opts);
    if (args.minInstances > args.maxInstances) {
      throw new Error(`CloudRunEndpoint ${name}: minInstances ${args.minInstances} exceeds maxInstances ${args.maxInstances}`);
    }
    const accelerator = args.shape.accelerator;
    const gpu = accelerator !== undefined;
    const limits: Record<string, string> = { cpu: args.shape.cpu, memory: args.shape.memory };
    if (gpu) limits['nvidia.com/gpu'] = '1';
    const secrets = args.secrets ?? [];
    const variables = { ...args.environment, ...secretFileVariables(secrets.map((stored) => stored.secret)) };
    const envs: gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[] = [
      // Cloud Run sets PORT itself (from containerPort) and rejects it as a user variable.
      ...Object.entries(variables)
        .filter(([envName]) => envName !== 'PORT')
        .map(([envName, value]) => ({ name: envName, value })),
      ...storedVariables(secrets).map(({ variable, reference }) => ({ name: variable, valueSource: { secretKeyRef: { secret: reference, version: 'latest' } } })),
    ];
    const files = storedFiles(secrets);
    // A mounted secret at `latest` is fetched when read, so a new version reaches running instances.
    const volumes: gcp.types.input.cloudrunv2.ServiceTemplateVolume[] = files.map(({ name: secretName, reference, file }) => ({
      name: secretName,
      secret: { secret: reference, items: [{ version: 'latest', path: file.fileName }] },
    }));
    const server: gcp.types.input.cloudrunv2.ServiceTemplateContainer = {
      name: SERVER_CONTAINER,
      image: args.image,
      // The only port Cloud Run routes to; METRICS_PORT is reachable only from inside the instance.
      ports: { containerPort: CONTAINER_PORT },
      envs,
      resources: {
        limits,
        // GPU instances need CPU allocated outside requests (Cloud Run requires it with a GPU);
        // the proxy idles between requests.
        cpuIdle: !gpu,
        startupCpuBoost: true,
      },
      startupProbe: cloudRunStartupProbe(args.startupBudgetSeconds),
      livenessProbe: { httpGet: { path: LIVE_PATH, port: CONTAINER_PORT }, periodSeconds: 30, failureThreshold: 3, timeoutSeconds: 5 },
      volumeMounts: files.map(({ name: secretName, file }) => ({ name: secretName, mountPath: file.directory })),
    };
    const service = new gcp.cloudrunv2.Service(
      `${name}-service`,
      {
        project: args.project,
        location: args.region,
        name: args.name,
        ingress: 'INGRESS_TRAFFIC_ALL',
        invokerIamDisabled: args.publicInvoker,
        // `pulumi destroy` must be able to remove a GPU service that bills while it exists.
        deletionProtection: false,
        labels: { ...args.labels },
        template: {
          serviceAccount: args.serviceAccountEmail,
          executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2',
          maxInstanceRequestConcurrency: args.concurrency,
          scaling: { minInstanceCount: args.minInstances, maxInstanceCount: args.maxInstances },
          timeout: `${args.lifecycle.requestTimeoutSeconds}s`,
          ...(accelerator === undefined
            ? {}
            : { nodeSelector: { accelerator }, gpuZonalRedundancyDisabled: !(args.gpuZonalRedundancy ?? false) }),
          ...(args.vpcEgress === undefined
            ? {}
            : {
                // Only private ranges (Memorystore) go through the VPC; the upstream API stays on Google's internet path.
                vpcAccess: { networkInterfaces: [{ network: args.vpcEgress.network, subnetwork: args.vpcEgress.subnetwork }], egress: 'PRIVATE_RANGES_ONLY' },
              }),
          containers: args.sidecar === undefined ? [server] : [server, args.sidecar.container],
          volumes: args.sidecar === undefined ? volumes : [...volumes, args.sidecar.volume],
        },
      },
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.serviceName = service.name;
    this.url = service.uri;
    this.registerOutputs({ url: this.url, serviceName: this.serviceName });
  }
}
