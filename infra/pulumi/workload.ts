// What the container needs from any cloud: its image, plain environment, ports, probe paths and startup budget.
// Each cloud maps these onto its own service; the environment follows docs/architecture.md.
import * as pulumi from '@pulumi/pulumi';
import { maxBatchSize, SpecError, type DeploymentSpec } from '../spec';
import type { ServiceLifecycle } from './service-lifecycle';

/** The API port: the only one any ingress routes to. */
export const CONTAINER_PORT = 8080;
/** METRICS_PORT: /metrics is served only here, which no ingress routes to; a sidecar in the replica scrapes it. */
export const METRICS_PORT = 9464;
/** 200 once the model is loaded (inference) or the upstream is configured (proxy). */
export const READY_PATH = '/ready';
/** 200 while the process serves HTTP at all. */
export const LIVE_PATH = '/health';

/**
 * Seconds a fresh replica may take to answer /ready before it is replaced: loading GPT-2 and creating the
 * CUDA session (plus a model fetch when the image does not bake it in) takes minutes; the proxy starts in seconds.
 */
export const STARTUP_BUDGET_SECONDS: Readonly<Record<DeploymentSpec['variant'], number>> = {
  inference: 300,
  proxy: 60,
};

/**
 * The image both Pulumi targets run. The program does not build images: it has no Docker engine to rely on
 * and each registry wants its own login, so CI (or `az acr build`) builds the Dockerfile's `gpu` or `cpu`
 * target and pushes it. A reference without a registry host (`gpt2-openai-toolkit:gpu`) means "in this
 * stack's registry"; `pulumi config set registryOnly true` creates that registry first (see README).
 */
export function requireImage(spec: DeploymentSpec): string {
  if (spec.image === undefined) {
    const target = spec.variant === 'inference' ? 'gpu' : 'cpu';
    throw new SpecError(
      `spec "${spec.name}" has no image: Pulumi targets deploy a prebuilt image. Set "image" to a full reference, or to ` +
        `"gpt2-openai-toolkit:${target}" for the stack's own registry (create it with \`pulumi config set registryOnly true\` ` +
        `and \`pulumi up\`, push the Dockerfile's ${target} target there, then \`pulumi config rm registryOnly\`).`,
    );
  }
  return spec.image;
}

/** Docker's rule: the first path component is a registry host when it has a dot or a port, or is localhost. */
function hasRegistryHost(image: string): boolean {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
}

/** The full image reference: as given, or inside `registry` when the spec names no registry host. */
export function qualifyImage(image: string, registry: pulumi.Input<string>): pulumi.Output<string> {
  return hasRegistryHost(image) ? pulumi.output(image) : pulumi.interpolate`${registry}/${image}`;
}

/**
 * The service's non-secret environment for this spec on a platform with `lifecycle`, in the contract's names.
 * Secrets, and the variables pointing at secret files, come from the stack's secret wiring.
 */
export function plainEnvironment(spec: DeploymentSpec, lifecycle: ServiceLifecycle): Record<string, string> {
  const common: Record<string, string> = {
    VARIANT: spec.variant,
    HOST: '0.0.0.0',
    PORT: String(CONTAINER_PORT),
    METRICS_PORT: String(METRICS_PORT),
    SERVED_MODEL_NAME: spec.model.servedName,
    DRAIN_TIMEOUT_SECONDS: String(lifecycle.drainTimeoutSeconds),
    KEEP_ALIVE_TIMEOUT_SECONDS: String(lifecycle.keepAliveTimeoutSeconds),
    PLAYGROUND: String(spec.endpoint.playground),
    LOG_LEVEL: 'info',
  };
  if (spec.variant === 'inference') {
    return {
      ...common,
      MODEL_ID: spec.model.id,
      MODEL_REVISION: spec.model.revision,
      MODEL_DTYPE: spec.model.dtype,
      ...(spec.model.file === undefined ? {} : { MODEL_FILE: spec.model.file }),
      EXECUTION_PROVIDER: 'cuda',
      MAX_BATCH_SIZE: String(maxBatchSize(spec)),
    };
  }
  // Replicas the autoscaler may run: the proxy warns when that is more than one and no REDIS_URL shares its limits.
  return { ...common, UPSTREAM_BASE_URL: spec.proxy.upstreamBaseUrl, PROXY_REPLICAS: String(spec.scaling.maxReplicas) };
}

/** Rejects spec fields only AWS understands, so a copied AWS spec fails loudly instead of being half-applied. */
export function rejectAwsOnlyFields(spec: DeploymentSpec): void {
  const problems: string[] = [];
  if (spec.compute.spot) problems.push('compute.spot: spot capacity is an AWS option; serverless GPUs on this target are on-demand');
  if (spec.endpoint.certificateArn !== undefined) {
    problems.push('endpoint.certificateArn: ACM certificates are AWS only; this target serves HTTPS on its own hostname');
  }
  if (problems.length > 0) {
    throw new SpecError(`spec "${spec.name}" (target ${spec.target}) sets fields this target cannot honour:\n  ${problems.join('\n  ')}`);
  }
}

/** The proxy keeps limits and budgets in a managed Redis (REDIS_URL) when its replicas must share them. */
export function sharesProxyState(spec: DeploymentSpec): boolean {
  return spec.variant === 'proxy' && spec.proxy.sharedState === 'managed';
}
