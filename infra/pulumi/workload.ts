// What the container needs from any cloud: its image, plain environment, port, probe paths and startup budget.
// Each cloud maps these onto its own service; the environment follows docs/architecture.md.
import { SpecError, type DeploymentSpec } from '../spec';

export const CONTAINER_PORT = 8080;
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

/** Environment variables the service reads that hold secrets; stacks pass them by reference, never by value. */
export const SECRET_ENV_NAMES = ['OPENAI_API_KEY', 'PROXY_KEYS'] as const;
export type SecretEnvName = (typeof SECRET_ENV_NAMES)[number];

/**
 * The image both Pulumi targets run. The program does not build images: it has no Docker engine to rely on
 * and each registry wants its own login, so CI builds the Dockerfile (`gpu` or `cpu` target) and pushes it.
 */
export function requireImage(spec: DeploymentSpec): string {
  if (spec.image === undefined) {
    const target = spec.variant === 'inference' ? 'gpu' : 'cpu';
    throw new SpecError(
      `spec "${spec.name}" has no image: Pulumi targets deploy a prebuilt image. Build it with ` +
        `\`docker build --target ${target} -t REGISTRY/${spec.name}:TAG .\`, push it, and set "image" in the spec ` +
        '(the CI pipeline does this; see README "Deploy to Azure" / "Deploy to GCP").',
    );
  }
  return spec.image;
}

/** The service's non-secret environment for this spec, in the contract's names. */
export function plainEnvironment(spec: DeploymentSpec): Record<string, string> {
  const common: Record<string, string> = {
    VARIANT: spec.variant,
    HOST: '0.0.0.0',
    PORT: String(CONTAINER_PORT),
    SERVED_MODEL_NAME: spec.model.servedName,
    DRAIN_TIMEOUT_SECONDS: String(spec.drainSeconds),
    LOG_LEVEL: 'info',
  };
  if (spec.variant === 'inference') {
    return {
      ...common,
      MODEL_ID: spec.model.id,
      MODEL_REVISION: spec.model.revision,
      EXECUTION_PROVIDER: 'cuda',
      // Concurrent sequences per replica: the autoscaler's target is the same number, so a replica batches
      // what it is sent instead of queueing it.
      MAX_BATCH_SIZE: String(spec.scaling.targetConcurrency),
    };
  }
  return { ...common, UPSTREAM_BASE_URL: spec.proxy.upstreamBaseUrl };
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
