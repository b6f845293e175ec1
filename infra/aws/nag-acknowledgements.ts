// Every cdk-nag (AwsSolutions) finding this app accepts, in one place, each with the reason a security
// reviewer would read. Everything else cdk-nag reports fails `cdk synth`.
import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { IConstruct } from 'constructs';
import { ServiceEndpoint } from './constructs/service-endpoint';
import { InferenceStack } from './inference-stack';
import { ProxyStack } from './proxy-stack';

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Rotation needs a rotation function that can mint the value; these are issued or consumed where none can. */
function acknowledgeRotation(secret: secretsmanager.ISecret, reason: string): void {
  if (secret instanceof secretsmanager.Secret) acknowledge(secret, 'AwsSolutions-SMG4', reason);
}

/** Findings both stacks share: the load balancer, its log bucket, and the task's plain configuration. */
function acknowledgeServiceFindings(stack: InferenceStack | ProxyStack, endpoint: ServiceEndpoint): void {
  if (endpoint.internetFacing) {
    acknowledge(
      endpoint.securityGroup,
      'AwsSolutions-EC23',
      'A public API endpoint (endpoint.public: true, never the default) must accept clients from anywhere, on the listener ' +
        'ports only: 443 with TLS and 80 redirecting to it, or 80 alone only with endpoint.allowHttp: true. Every API request ' +
        'must carry a bearer key (inference: API_KEYS from Secrets Manager; proxy: PROXY_KEYS / PROXY_CONFIG_FILE client keys), ' +
        'and /metrics is answered 404 at the load balancer.',
    );
  }
  acknowledge(
    endpoint.accessLogBucket,
    'AwsSolutions-S1',
    'This bucket only receives the load balancer access logs; logging access to the log bucket into yet another bucket ' +
      'adds cost and no audit value. It blocks public access, enforces SSL and expires objects.',
  );
  acknowledge(
    stack.taskDefinition,
    'AwsSolutions-ECS2',
    'The plain environment holds only non-secret settings (variant, ports, model id and commit, batch size, drain and ' +
      'keep-alive times, metrics namespace, upstream URL, replica count, config digest); keys, passwords and the proxy ' +
      'config are injected from Secrets Manager as ECS secrets.',
  );
  acknowledge(
    stack.taskDefinition.obtainExecutionRole(),
    'AwsSolutions-IAM5[Resource::*]',
    'Written by aws-cdk-lib for image pulls: ecr:GetAuthorizationToken does not support resource-level permissions. ' +
      'Pulls themselves (ecr:BatchGetImage etc.) are scoped to the image repository.',
  );
}

export function acknowledgeInferenceFindings(stack: InferenceStack): void {
  acknowledgeServiceFindings(stack, stack.endpoint);
  const { instanceRole, autoScalingGroup, release } = stack.capacity;
  acknowledge(
    instanceRole,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    'The AWS-maintained minimum policy for Session Manager, the only shell access to GPU instances ' +
      '(no key pair, no SSH port); kept current by AWS as the SSM agent changes.',
  );
  acknowledge(
    instanceRole,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/CloudWatchAgentServerPolicy]',
    "The AWS-maintained policy the CloudWatch agent documents for publishing metrics (here the GPUs' utilization and " +
      'memory): cloudwatch:PutMetricData and the ec2:Describe* calls that add the Auto Scaling group dimension; kept current by AWS.',
  );
  acknowledge(
    instanceRole,
    'AwsSolutions-IAM5[Action::ecs:Submit*]',
    "Written by aws-cdk-lib for the ECS container agent: ecs:Submit* (the agent's task, container and attachment state " +
      'reports) is scoped to this cluster.',
  );
  acknowledge(
    instanceRole,
    'AwsSolutions-IAM5[Resource::*]',
    'Written by aws-cdk-lib for the ECS container agent: ecs:Poll, ecs:StartTelemetrySession, ecs:DiscoverPollEndpoint and ' +
      'ecr:GetAuthorizationToken do not support resource-level permissions; the log actions cover the awslogs driver.',
  );
  acknowledge(
    release.role,
    'AwsSolutions-IAM5[Resource::*]',
    'autoscaling:DescribeAutoScalingGroups supports no resource-level permissions. UpdateAutoScalingGroup and ' +
      'SetInstanceProtection are on Resource "*" only with a condition on the tag the stack puts on its own GPU group, ' +
      "because the group's ARN contains an id that does not exist until the group does.",
  );
  if (stack.capacity.usesSpot) {
    acknowledge(
      autoScalingGroup,
      'AwsSolutions-EC26',
      "cdk-nag's EBS encryption rule reads only an Auto Scaling group's LaunchTemplate, not MixedInstancesPolicy's, and " +
        'throws here. Both kinds of group use the same launch template, whose root volume is encrypted ' +
        '(test/infra/aws/inference-stack.test.ts asserts it).',
    );
  }
  acknowledge(
    autoScalingGroup,
    'AwsSolutions-AS3',
    'The ECS capacity provider, not people, drives this group; a failed launch leaves a task without a GPU, which the ' +
      'NoHealthyTargets and UnhealthyTargets alarms report to the alarm topic, and ECS records as a service event.',
  );
  acknowledgeRotation(
    stack.apiKeysSecret,
    'The inference API keys are bearer keys handed to clients; a rotation function would invalidate keys clients hold ' +
      'without telling them. The operator rotates them (add the new key, put-secret-value, force a new deployment, ' +
      'retire the old key later) as the README describes.',
  );
}

export function acknowledgeProxyFindings(stack: ProxyStack): void {
  acknowledgeServiceFindings(stack, stack.endpoint);
  const rotation =
    'is issued outside AWS, so no rotation Lambda can mint a new one; the operator rotates it (put-secret-value, then ' +
    'force a new deployment) as the README describes.';
  acknowledgeRotation(stack.openaiKeySecret, `The OpenAI API key ${rotation}`);
  acknowledgeRotation(stack.clientKeysSecret, `The client key digest list (PROXY_KEYS) ${rotation}`);
  if (stack.configSecret !== undefined) {
    acknowledgeRotation(
      stack.configSecret,
      'This is the proxy config file (client key digests, limits, models), not a credential: it changes when the spec ' +
        'file changes, and each change redeploys the tasks (its digest is in the task definition).',
    );
  }
  const cache = stack.sharedState;
  if (cache !== undefined) {
    const password =
      'is a password of an ElastiCache user set at deploy time by CloudFormation and copied into REDIS_URL; a rotation ' +
      'function would change it under the running tasks. It never leaves AWS (the cache accepts TLS connections from ' +
      'the proxy tasks only); change it with a stack update, which redeploys the tasks.';
    acknowledgeRotation(cache.passwordSecret, `The proxy user's password ${password}`);
    acknowledgeRotation(cache.defaultUserPasswordSecret, `The disabled default user's password ${password}`);
    acknowledgeRotation(
      cache.urlSecret,
      'REDIS_URL is assembled by CloudFormation from the cache endpoint and the proxy user password; it changes with them.',
    );
  }
}
