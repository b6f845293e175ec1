// Reading endpoints from the tools' outputs (scripts/deploy/outputs.ts) and showing commands
// (scripts/deploy/runner.ts formatCommand): the formats the real tools print, and what happens when they don't.
import { endpointFromCdkOutputs, endpointFromComposePort, parsePulumiOutputs } from '../../../scripts/deploy/outputs';
import { formatCommand } from '../../../scripts/deploy/runner';

describe('CDK outputs file', () => {
  const file = 'cdk-outputs.json';
  it('takes EndpointUrl of the named stack, and ApiKeysSecretArn when the stack has one', () => {
    const text = JSON.stringify({ other: { EndpointUrl: 'http://other' }, 'gpt2-aws': { EndpointUrl: 'http://alb.example.com', ClusterName: 'c' } });
    expect(endpointFromCdkOutputs(text, 'gpt2-aws', file)).toEqual({ url: 'http://alb.example.com' });
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:gpt2-aws-api-keys-AbCdEf';
    const keyed = JSON.stringify({ 'gpt2-aws-staging': { EndpointUrl: 'https://gpt2.example.com', ApiKeysSecretArn: arn } });
    expect(endpointFromCdkOutputs(keyed, 'gpt2-aws-staging', file)).toEqual({ url: 'https://gpt2.example.com', apiKeysSecretArn: arn });
  });

  it('names the stacks it has when the wanted one is missing, and rejects non-URLs and non-JSON', () => {
    expect(() => endpointFromCdkOutputs('{"a":{"EndpointUrl":"http://x"}}', 'gpt2-aws', file)).toThrow('stacks in it: a');
    expect(() => endpointFromCdkOutputs('{"gpt2-aws":{"EndpointUrl":"alb.example.com"}}', 'gpt2-aws', file)).toThrow('not an http(s) URL');
    expect(() => endpointFromCdkOutputs('not json', 'gpt2-aws', file)).toThrow('not JSON');
  });
});

describe('pulumi stack output --json', () => {
  it('reads url, registry and identity; a registryOnly stack has no url', () => {
    expect(parsePulumiOutputs('{"identity":"i","registry":"r.azurecr.io","url":"https://app.example"}', 's')).toEqual({
      identity: 'i',
      registry: 'r.azurecr.io',
      url: 'https://app.example',
    });
    expect(parsePulumiOutputs('{"identity":"i","registry":"r"}\n', 's').url).toBeUndefined();
  });

  it('says which output is wrong', () => {
    expect(() => parsePulumiOutputs('{"url":"[secret]"}', 's')).toThrow(/url: /);
    expect(() => parsePulumiOutputs('error: no stack', 's')).toThrow('did not print JSON');
  });
});

describe('compose port', () => {
  it('turns HOST:PORT into a URL, with 0.0.0.0 reached on loopback', () => {
    expect(endpointFromComposePort('127.0.0.1:8080\n', 'gpt2')).toBe('http://127.0.0.1:8080');
    expect(endpointFromComposePort('0.0.0.0:49153\n', 'gpt2')).toBe('http://127.0.0.1:49153');
    expect(() => endpointFromComposePort('\n', 'gpt2')).toThrow('is the service running?');
  });
});

describe('formatCommand', () => {
  it('quotes only the words a shell would split or expand', () => {
    expect(formatCommand({ tool: 'pulumi', args: ['up', '--config', 'spec=deploy/a b.json', "it's", '$HOME'] })).toBe(
      `pulumi up --config 'spec=deploy/a b.json' 'it'\\''s' '$HOME'`,
    );
  });
});
