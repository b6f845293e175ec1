// The shape of every cloud's deploy function (options in, stack outputs out), the label that records the
// spec's ingress choice, and the command that reads the inference key back.
import type * as pulumi from '@pulumi/pulumi';
import type { DeploymentSpec } from '../spec';

export interface DeployOptions {
  /**
   * Declare only the registry and the identity (stack config `registryOnly`), so the first image can be
   * pushed into the stack's own registry before the service that runs it exists. @default false
   */
  readonly registryOnly?: boolean;
  /** Where relative paths in the spec (proxy.config.file) start: the directory of Pulumi.yaml. @default process.cwd() */
  readonly projectRoot?: string;
}

export interface StackOutputs {
  /** The endpoint's base URL (`npm run smoke -- --url $(pulumi stack output url)`); absent with registryOnly. */
  readonly url?: pulumi.Output<string>;
  /** The registry CI pushes the image to. */
  readonly registry: pulumi.Output<string>;
  /** The identity (Azure principal id / GCP service account email) the service runs as. */
  readonly identity: pulumi.Output<string>;
  /** Inference: where the API keys live (Key Vault secret URI / Secret Manager secret resource name). */
  readonly apiKeysSecret?: pulumi.Output<string>;
  /** Inference: `apiKeysReadCommand` for apiKeysSecret, so the key is one copy-paste away. */
  readonly apiKeysReadCommand?: pulumi.Output<string>;
  /** Inference: MODEL_REVISION the service loads (the image build resolves a branch to its commit). */
  readonly modelRevision?: pulumi.Output<string>;
}

/**
 * Tag (Azure) / label (GCP) on the service that carries the spec's endpoint.public, so the policy pack can
 * check that public ingress was asked for; a service without it counts as private.
 */
export const ENDPOINT_VISIBILITY_TAG = 'endpoint-visibility';

export function endpointVisibility(spec: DeploymentSpec): 'public' | 'private' {
  return spec.endpoint.public ? 'public' : 'private';
}

/** The CLI command that prints the secret's current value (the inference API key) to stdout. */
export function apiKeysReadCommand(target: 'azure' | 'gcp', reference: string): string {
  return target === 'azure'
    ? `az keyvault secret show --id ${reference} --query value --output tsv`
    : `gcloud secrets versions access latest --secret ${reference}`;
}
