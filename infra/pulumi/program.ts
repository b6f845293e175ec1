// The Pulumi program's logic: one validated spec in, the chosen cloud's resources and outputs out.
import { SpecError, type DeploymentSpec } from '../spec';
import { deployAzure } from '../azure';
import { deployGcp } from '../gcp';
import type { DeployOptions, StackOutputs } from './outputs';
import type { ProxySecretConfig } from './proxy-secrets';

export function deployStack(spec: DeploymentSpec, secretConfig: ProxySecretConfig, options: DeployOptions = {}): StackOutputs {
  switch (spec.target) {
    case 'azure':
      return deployAzure(spec, secretConfig, options);
    case 'gcp':
      return deployGcp(spec, secretConfig, options);
    case 'aws':
      throw new SpecError(`spec "${spec.name}" targets aws, which the CDK app deploys: npx cdk deploy -c spec=FILE (see README)`);
    case 'local':
      throw new SpecError(`spec "${spec.name}" targets local: run it with the compose file, not Pulumi (see README)`);
  }
}
