// The shape of every cloud's deploy function (options in, stack outputs out), and the label that records
// the spec's ingress choice.
import type * as pulumi from '@pulumi/pulumi';
import type { DeploymentSpec } from '../spec';

export interface DeployOptions {
  /**
   * Declare only the registry and the identity (stack config `registryOnly`), so the first image can be
   * pushed into the stack's own registry before the service that runs it exists. @default false
   */
  readonly registryOnly?: boolean;
}

export interface StackOutputs {
  /** The endpoint's base URL (`npm run smoke -- --url $(pulumi stack output url)`); absent with registryOnly. */
  readonly url?: pulumi.Output<string>;
  /** The registry CI pushes the image to. */
  readonly registry: pulumi.Output<string>;
  /** The identity (Azure principal id / GCP service account email) the service runs as. */
  readonly identity: pulumi.Output<string>;
}

/**
 * Tag (Azure) / label (GCP) on the service that carries the spec's endpoint.public, so the policy pack can
 * check that public ingress was asked for; a service without it counts as private.
 */
export const ENDPOINT_VISIBILITY_TAG = 'endpoint-visibility';

export function endpointVisibility(spec: DeploymentSpec): 'public' | 'private' {
  return spec.endpoint.public ? 'public' : 'private';
}
