import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
  UpdateAutoScalingGroupCommand,
  type Instance,
} from '@aws-sdk/client-auto-scaling';
import {
  handleEvent,
  releaseGroup,
  sendResponse,
  type AutoScalingApi,
  type CustomResourceEvent,
  type CustomResourceResponse,
} from '../../../../infra/aws/functions/release-capacity';

type Command = DescribeAutoScalingGroupsCommand | UpdateAutoScalingGroupCommand | SetInstanceProtectionCommand;

/**
 * A stand-in for the Auto Scaling client: a group whose instances keep their protection until SetInstanceProtection
 * lifts it, recording every command it is sent. `missing` makes the group not exist.
 */
function fakeAutoScaling(instances: Instance[], options: { missing?: boolean; failOn?: string } = {}) {
  const sent: Command[] = [];
  const group = { AutoScalingGroupName: 'gpu-group', Instances: instances.map((instance) => ({ ...instance })) };
  const client: AutoScalingApi = {
    send: (async (command: Command) => {
      sent.push(command);
      if (options.failOn === command.constructor.name) throw new Error('AccessDenied: not authorized');
      if (command instanceof DescribeAutoScalingGroupsCommand) {
        return { AutoScalingGroups: options.missing ? [] : [structuredClone(group)] };
      }
      if (command instanceof SetInstanceProtectionCommand) {
        for (const instance of group.Instances) {
          if (command.input.InstanceIds?.includes(instance.InstanceId!)) instance.ProtectedFromScaleIn = command.input.ProtectedFromScaleIn;
        }
      }
      return {};
    }) as AutoScalingApi['send'],
  };
  return { client, sent, group };
}

function instance(id: string, isProtected: boolean): Instance {
  return { InstanceId: id, ProtectedFromScaleIn: isProtected, AvailabilityZone: 'us-east-1a', LifecycleState: 'InService', HealthStatus: 'Healthy' } as Instance;
}

function event(requestType: CustomResourceEvent['RequestType'], responseUrl = 'http://127.0.0.1:9/unused'): CustomResourceEvent {
  return {
    RequestType: requestType,
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/gpt2-aws/1',
    RequestId: 'request-1',
    LogicalResourceId: 'GpuCapacityReleaseResource',
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'gpu-group' }),
    ResourceProperties: { AutoScalingGroupName: 'gpu-group' },
  };
}

describe('releaseGroup', () => {
  it('sets the group to 0 with new instances unprotected before lifting protection from every protected instance', async () => {
    const instances = Array.from({ length: 53 }, (_, index) => instance(`i-${index}`, index !== 7));
    const { client, sent, group } = fakeAutoScaling(instances);
    expect(await releaseGroup(client, 'gpu-group')).toBe(52);
    const kinds = sent.map((command) => command.constructor.name);
    expect(kinds).toEqual([
      'DescribeAutoScalingGroupsCommand',
      'UpdateAutoScalingGroupCommand',
      'DescribeAutoScalingGroupsCommand',
      'SetInstanceProtectionCommand',
      'SetInstanceProtectionCommand',
    ]);
    expect(sent[1]!.input).toEqual({ AutoScalingGroupName: 'gpu-group', MinSize: 0, DesiredCapacity: 0, NewInstancesProtectedFromScaleIn: false });
    // SetInstanceProtection takes at most 50 ids; the unprotected instance is not sent.
    const batches = sent.filter((command) => command instanceof SetInstanceProtectionCommand).map((command) => command.input.InstanceIds!);
    expect(batches.map((ids) => ids.length)).toEqual([50, 2]);
    expect(batches.flat()).not.toContain('i-7');
    expect(group.Instances.every((candidate) => candidate.ProtectedFromScaleIn === false)).toBe(true);
  });

  it('does nothing to a group that is already gone', async () => {
    const { client, sent } = fakeAutoScaling([], { missing: true });
    expect(await releaseGroup(client, 'gpu-group')).toBeUndefined();
    expect(sent.map((command) => command.constructor.name)).toEqual(['DescribeAutoScalingGroupsCommand']);
  });
});

describe('handleEvent', () => {
  const answered: CustomResourceResponse[] = [];
  const respond = async (_url: string, response: CustomResourceResponse) => {
    answered.push(response);
  };
  beforeEach(() => answered.splice(0));

  it('releases the group on Delete and answers SUCCESS with what it did', async () => {
    const { client } = fakeAutoScaling([instance('i-1', true), instance('i-2', true)]);
    const response = await handleEvent(event('Delete'), client, respond);
    expect(response).toEqual({
      Status: 'SUCCESS',
      Reason: 'gpu-group set to 0 instances; scale-in protection lifted from 2',
      PhysicalResourceId: 'gpu-group',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/gpt2-aws/1',
      RequestId: 'request-1',
      LogicalResourceId: 'GpuCapacityReleaseResource',
    });
    expect(answered).toEqual([response]);
  });

  it('touches nothing on Create and Update, and names the group as the physical id', async () => {
    for (const type of ['Create', 'Update'] as const) {
      const { client, sent } = fakeAutoScaling([instance('i-1', true)]);
      const response = await handleEvent(event(type), client, respond);
      expect(sent).toEqual([]);
      expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'gpu-group' });
    }
  });

  it('takes the new group as its physical id when an update replaces the group, so the old one gets a Delete of its own', async () => {
    const { client } = fakeAutoScaling([]);
    const replaced = { ...event('Update'), PhysicalResourceId: 'old-group', ResourceProperties: { AutoScalingGroupName: 'new-group' } };
    expect((await handleEvent(replaced, client, respond)).PhysicalResourceId).toBe('new-group');
  });

  it('answers FAILED with the reason when the release fails, instead of leaving CloudFormation waiting', async () => {
    const { client } = fakeAutoScaling([instance('i-1', true)], { failOn: 'UpdateAutoScalingGroupCommand' });
    const response = await handleEvent(event('Delete'), client, respond);
    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toBe('could not release gpu-group: AccessDenied: not authorized');
    expect(answered).toHaveLength(1);
  });
});

describe('sendResponse', () => {
  it("PUTs the JSON response with the empty content type CloudFormation's pre-signed URL expects", async () => {
    const received: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((request, reply) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        received.push({ method: request.method, url: request.url, headers: request.headers, body });
        reply.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { client } = fakeAutoScaling([], { missing: true });
      await handleEvent(event('Delete', `http://127.0.0.1:${port}/response?X-Amz-Signature=abc`), client);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'PUT', url: '/response?X-Amz-Signature=abc' });
    expect(received[0]!.headers['content-type']).toBe('');
    expect(JSON.parse(received[0]!.body)).toMatchObject({ Status: 'SUCCESS', Reason: 'gpu-group is already gone', RequestId: 'request-1' });
  });

  it('fails loudly when the response URL refuses the answer', async () => {
    const server = createServer((_request, reply) => reply.writeHead(403).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await expect(sendResponse(`http://127.0.0.1:${port}/`, { Status: 'SUCCESS', Reason: '', PhysicalResourceId: 'x', StackId: 's', RequestId: 'r', LogicalResourceId: 'l' })).rejects.toThrow(
        /answered 403/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
