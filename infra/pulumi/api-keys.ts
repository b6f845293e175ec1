// The inference endpoint's bearer keys: an existing secret named by auth.apiKeysSecret, or one key the stack
// generates and stores. @pulumi/random keeps the generated key in the stack's state (encrypted, as a secret),
// so it survives every later `pulumi up` and a replaced secret resource; a key generated in the program
// itself would change on every run.
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { DeploymentSpec } from '../spec';
import { fileSecret, SECRET_FILES, type ServiceSecret } from './service-secrets';

/** Characters of the generated key: 48 letters and digits, about 285 bits. */
export const GENERATED_KEY_LENGTH = 48;

/** The API_KEYS_FILE secret for an inference spec; declares the generated key when the spec names no secret. */
export function inferenceApiKeys(spec: DeploymentSpec, opts?: pulumi.CustomResourceOptions): ServiceSecret {
  if (spec.auth.apiKeysSecret !== undefined) {
    return fileSecret('api-keys', { kind: 'existing', reference: spec.auth.apiKeysSecret }, SECRET_FILES.apiKeys);
  }
  const key = new random.RandomPassword(`${spec.name}-api-key`, { length: GENERATED_KEY_LENGTH, special: false }, opts);
  return fileSecret('api-keys', { kind: 'value', value: pulumi.secret(key.result) }, SECRET_FILES.apiKeys);
}
