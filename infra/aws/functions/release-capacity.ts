// The Lambda behind the CapacityRelease custom resource. On Delete (stack deletion, or the rollback of a failed
// create) it lifts scale-in protection from the Auto Scaling group's instances and sets the group to 0, so that
// CloudFormation can delete it: ECS's managed termination protection otherwise leaves it undeletable (aws-cdk 18179).
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';

/** The CloudFormation custom resource request: what this resource reads, and the physical id CloudFormation echoes back. */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: { readonly AutoScalingGroupName: string };
}

export interface CustomResourceResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
}

/** The one method of the SDK client this uses, so tests can stand in for it. */
export type AutoScalingApi = Pick<AutoScalingClient, 'send'>;

/** SetInstanceProtection takes at most 50 instance ids per call. */
const PROTECTION_BATCH = 50;

async function protectedInstanceIds(autoScaling: AutoScalingApi, groupName: string): Promise<string[] | undefined> {
  const { AutoScalingGroups: groups = [] } = await autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }));
  const group = groups.find((candidate) => candidate.AutoScalingGroupName === groupName);
  if (group === undefined) return undefined;
  return (group.Instances ?? []).filter((instance) => instance.ProtectedFromScaleIn === true).flatMap((instance) => (instance.InstanceId === undefined ? [] : [instance.InstanceId]));
}

/**
 * Sets the group to 0 with new instances unprotected (so nothing launched from here on can hold it up), then lifts
 * protection from the instances still protected. Returns how many it released; undefined when the group is gone.
 */
export async function releaseGroup(autoScaling: AutoScalingApi, groupName: string): Promise<number | undefined> {
  if ((await protectedInstanceIds(autoScaling, groupName)) === undefined) return undefined;
  await autoScaling.send(
    new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: groupName, MinSize: 0, DesiredCapacity: 0, NewInstancesProtectedFromScaleIn: false }),
  );
  const instanceIds = (await protectedInstanceIds(autoScaling, groupName)) ?? [];
  for (let start = 0; start < instanceIds.length; start += PROTECTION_BATCH) {
    await autoScaling.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: groupName,
        InstanceIds: instanceIds.slice(start, start + PROTECTION_BATCH),
        ProtectedFromScaleIn: false,
      }),
    );
  }
  return instanceIds.length;
}

/** PUTs the response to CloudFormation's pre-signed URL; the empty content type is the one the URL was signed for. */
export async function sendResponse(url: string, response: CustomResourceResponse): Promise<void> {
  const body = JSON.stringify(response);
  const answer = await fetch(url, { method: 'PUT', body, headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) } });
  if (!answer.ok) throw new Error(`CloudFormation's response URL answered ${answer.status} ${answer.statusText}`);
}

/**
 * Handles one request and always answers CloudFormation (a resource that never answers holds the stack until the
 * service timeout). Create and Update only record the group: its name is the physical id, so when an update replaces
 * the group CloudFormation sends Delete for the old one, which releases it before it goes. A failed release answers
 * FAILED with the reason, so the deletion stops with a message instead of waiting on an undeletable group.
 */
export async function handleEvent(event: CustomResourceEvent, autoScaling: AutoScalingApi, respond = sendResponse): Promise<CustomResourceResponse> {
  const groupName = event.ResourceProperties.AutoScalingGroupName;
  let status: CustomResourceResponse['Status'] = 'SUCCESS';
  let reason = `${event.RequestType}: nothing to do until the stack deletes ${groupName}`;
  if (event.RequestType === 'Delete') {
    try {
      const released = await releaseGroup(autoScaling, groupName);
      reason = released === undefined ? `${groupName} is already gone` : `${groupName} set to 0 instances; scale-in protection lifted from ${released}`;
    } catch (error) {
      status = 'FAILED';
      reason = `could not release ${groupName}: ${(error as Error).message}`;
    }
  }
  const response: CustomResourceResponse = {
    Status: status,
    Reason: reason,
    PhysicalResourceId: groupName,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  await respond(event.ResponseURL, response);
  return response;
}

/** The Lambda entry point; the outcome and its reason show in the stack's events. */
export async function handler(event: CustomResourceEvent): Promise<void> {
  await handleEvent(event, new AutoScalingClient({}));
}
