// Every cdk-nag (AwsSolutions) finding this app accepts, in one place, each with the reason a security
// reviewer would read. Everything else cdk-nag reports fails `cdk synth`.
import { Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { ServiceEndpoint } from './constructs/service-endpoint';
import { InferenceStack } from './inference-stack';
import { ProxyStack } from './proxy-stack';

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Findings both stacks share: the load balancer, its log bucket, and the task's plain configuration. */
function acknowledgeServiceFindings(stack: InferenceStack | ProxyStack, endpoint: ServiceEndpoint): void {
  if (endpoint.internetFacing) {
    acknowledge(
      endpoint.securityGroup,
      'AwsSolutions-EC23',
      'A public API endpoint must accept clients from anywhere, on the listener ports only (80, and 443 with a certificate). ' +
        'Clients authenticate with bearer keys; set endpoint.public=false for a VPC-internal load balancer.',
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
    'The plain environment holds only non-secret settings (variant, port, model id, drain time, upstream URL); ' +
      'keys are injected from Secrets Manager as ECS secrets.',
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
  const { instanceRole, autoScalingGroup } = stack.capacity;
  acknowledge(
    instanceRole,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    'The AWS-maintained minimum policy for Session Manager, the only shell access to GPU instances ' +
      '(no key pair, no SSH port); kept current by AWS as the SSM agent changes.',
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
}

export function acknowledgeProxyFindings(stack: ProxyStack): void {
  acknowledgeServiceFindings(stack, stack.endpoint);
  const rotation =
    'is issued outside AWS, so no rotation Lambda can mint a new one; the operator rotates it (put-secret-value, then ' +
    'force a new deployment) as the README describes.';
  acknowledge(stack.openaiKeySecret, 'AwsSolutions-SMG4', `The OpenAI API key ${rotation}`);
  acknowledge(stack.clientKeysSecret, 'AwsSolutions-SMG4', `The client key digest list (PROXY_KEYS) ${rotation}`);
}
