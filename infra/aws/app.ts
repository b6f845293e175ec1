// The CDK app cdk.json runs: `cdk deploy -c spec=deploy/aws-dev.json` (several: comma-separated);
// without `spec` it synthesizes the two examples, deploy/aws-inference.json and deploy/aws-proxy.json.
import { App } from 'aws-cdk-lib';
import { buildAwsApp } from './build-app';

buildAwsApp(new App());
