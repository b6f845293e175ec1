// One autoscaling HTTPS endpoint on Cloud Run (v2): GPU or CPU instance, probes, concurrency-based
// scaling, and the public invoker binding only when asked for.
import * as pulumi from '@pulumi/pulumi';
import * as gcp from '@pulumi/gcp';
import type { SecretEnvName } from '../pulumi/workload';
import { CONTAINER_PORT, LIVE_PATH, READY_PATH } from '../pulumi/workload';
import type { InstanceShape } from './accelerators';

export interface CloudRunEndpointArgs {
  /** The service's name. */
  readonly name: string;
  readonly project: string;
  readonly region: string;
  /** Full image reference. */
  readonly image: pulumi.Input<string>;
  readonly shape: InstanceShape;
  readonly serviceAccountEmail: pulumi.Input<string>;
  readonly environment: Readonly<Record<string, string>>;
  /** Secret Manager secret ids, exposed to the container as these environment variables. @default none */
  readonly secretEnvironment?: Readonly<Partial<Record<SecretEnvName, pulumi.Input<string>>>>;
  readonly minInstances: number;
  readonly maxInstances: number;
  /** Requests one instance serves at once; Cloud Run adds instances beyond it. */
  readonly concurrency: number;
  /** true: allUsers may invoke; false: only callers granted roles/run.invoker. */
  readonly publicInvoker: boolean;
  /**
   * Keep spare GPU capacity in other zones so instances survive a zone outage; billed extra.
   * @default false (zonal redundancy disabled: cheaper, and the GPU quota asked for is the non-redundant one)
   */
  readonly gpuZonalRedundancy?: boolean;
  /** Seconds /ready may take on a new instance (model loading). */
  readonly startupBudgetSeconds: number;
  readonly labels: Readonly<Record<string, string>>;
  /** APIs, grants and secret versions the first revision needs. @default none */
  readonly dependsOn?: pulumi.Resource[];
}

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
    const envs: gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[] = [
      // Cloud Run sets PORT itself (from containerPort) and rejects it as a user variable.
      ...Object.entries(args.environment)
        .filter(([envName]) => envName !== 'PORT')
        .map(([envName, value]) => ({ name: envName, value })),
      ...(Object.entries(args.secretEnvironment ?? {}) as [SecretEnvName, pulumi.Input<string>][]).map(([envName, secret]) => ({
        name: envName,
        valueSource: { secretKeyRef: { secret, version: 'latest' } },
      })),
    ];
    const service = new gcp.cloudrunv2.Service(
      `${name}-service`,
      {
        project: args.project,
        location: args.region,
        name: args.name,
        ingress: 'INGRESS_TRAFFIC_ALL',
        // `pulumi destroy` must be able to remove a GPU service that bills while it exists.
        deletionProtection: false,
        labels: { ...args.labels },
        template: {
          serviceAccount: args.serviceAccountEmail,
          executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2',
          maxInstanceRequestConcurrency: args.concurrency,
          scaling: { minInstanceCount: args.minInstances, maxInstanceCount: args.maxInstances },
          // Streamed completions can run for minutes.
          timeout: '600s',
          ...(accelerator === undefined
            ? {}
            : { nodeSelector: { accelerator }, gpuZonalRedundancyDisabled: !(args.gpuZonalRedundancy ?? false) }),
          containers: [
            {
              name: 'server',
              image: args.image,
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
            },
          ],
        },
      },
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.serviceName = service.name;
    this.url = service.uri;

    if (args.publicInvoker) {
      new gcp.cloudrunv2.ServiceIamMember(
        `${name}-public-invoker`,
        { project: args.project, location: args.region, name: service.name, role: 'roles/run.invoker', member: 'allUsers' },
        { parent: this },
      );
    }
    this.registerOutputs({ url: this.url, serviceName: this.serviceName });
  }
}
