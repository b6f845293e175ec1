// A delete-time custom resource that releases an Auto Scaling group ECS protects with managed termination
// protection: before CloudFormation deletes the group it is set to 0 and its instances lose scale-in protection.
import * as path from 'node:path';
import { CustomResource, DockerImage, Duration, Names, RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';

const FUNCTIONS_DIR = path.join(__dirname, '..', 'functions');
const HANDLER = path.join(FUNCTIONS_DIR, 'release-capacity.ts');

/**
 * The handler bundled in-process with esbuild's API (milliseconds, no npx or Docker per synth). The Lambda
 * runtime ships the AWS SDK v3, so the bundle is only this handler.
 */
function handlerCode(): lambda.Code {
  return lambda.Code.fromAsset(FUNCTIONS_DIR, {
    bundling: {
      // Never used: local bundling always succeeds where the CDK app runs (esbuild is a dependency of it).
      image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs24.x'),
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync({
            entryPoints: [HANDLER],
            outfile: path.join(outputDir, 'index.js'),
            bundle: true,
            platform: 'node',
            target: 'node24',
            format: 'cjs',
            external: ['@aws-sdk/*'],
            minify: true,
            logLevel: 'silent',
          });
          return true;
        },
      },
    },
  });
}

/** Tag that names the group this resource may change: the group's ARN holds an id unknown until it exists. */
export const RELEASE_TAG = 'gpt2-openai-toolkit:capacity-release';

export interface CapacityReleaseProps {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
}

/**
 * Make whatever runs on the group (the ECS service) depend on this resource: CloudFormation then deletes that
 * first, this next (releasing the group), and the group last, on stack deletion and on a failed create's rollback.
 */
export class CapacityRelease extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: CapacityReleaseProps) {
    super(scope, id);
    const group = props.autoScalingGroup;
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Releases the GPU Auto Scaling group (capacity 0, no scale-in protection) when the stack deletes it',
    });
    logGroup.grantWrite(this.role);
    // Describe supports no resource-level permissions; the two changes are allowed on this group only, by its tag.
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['autoscaling:DescribeAutoScalingGroups'], resources: ['*'] }));
    const groupTag = Names.uniqueId(group);
    Tags.of(group).add(RELEASE_TAG, groupTag, { applyToLaunchedInstances: false });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['autoscaling:UpdateAutoScalingGroup', 'autoscaling:SetInstanceProtection'],
        resources: ['*'],
        conditions: { StringEquals: { [`autoscaling:ResourceTag/${RELEASE_TAG}`]: groupTag } },
      }),
    );
    this.function = new lambda.Function(this, 'Function', {
      code: handlerCode(),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      role: this.role,
      logGroup,
      timeout: Duration.minutes(1),
      memorySize: 256,
      description: 'CloudFormation custom resource: releases the GPU Auto Scaling group before it is deleted (aws-cdk issue 18179)',
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::CapacityRelease',
      properties: { AutoScalingGroupName: group.autoScalingGroupName },
      // The handler always answers within its own timeout; this bounds a lost answer at minutes, not an hour.
      serviceTimeout: Duration.minutes(5),
    });
    // Roles and policies must exist before CloudFormation calls the function, and must outlive its Delete call.
    this.resource.node.addDependency(this.role);
  }
}
