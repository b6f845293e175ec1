// The CDK app cdk.json runs: `cdk deploy -c spec=deploy/aws-dev.json` (several: comma-separated), with
// `-c environment=staging` for a second copy in the same account and `-c pinModelRevision=false` to synthesize
// without asking the model hub; without `spec` it synthesizes deploy/aws-inference.json and deploy/aws-proxy.json.
import { App } from 'aws-cdk-lib';
import { SpecError } from '../spec';
import { buildAwsApp } from './build-app';

buildAwsApp(new App()).catch((error: unknown) => {
  // A spec problem is the user's to fix: its message names the file and field; anything else keeps its stack.
  process.stderr.write(`${error instanceof SpecError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
