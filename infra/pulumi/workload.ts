// What the container needs from any cloud: its image, plain environment, port, probe paths and startup budget.
// Each cloud maps these onto its own service; the environment follows docs/architecture.md.
import * as pulumi from '@pulumi/pulumi';
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
