import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { deployStack } from '../../../infra/pulumi/program';
import { loadDeploymentSpec, parseDeploymentSpec } from '../../../infra/spec';
import { installMocks, ofType, settle, valueOf } from './mocks';

const root = path.join(__dirname, '..', '..', '..');
const captured = installMocks({
  'gpt2-openai-toolkit:spec': 'deploy/azure-inference.json',
  'gcp:project': 'demo-project',
});

describe('the Pulumi program entry', () => {
  it('deploys the spec named by stack config and exports url, registry, identity, the key secret and the model revision', async () => {
    // The entry declares its resources on load, so it is loaded only now that the mocks are in place.
    const entry = require('../../../infra/pulumi') as typeof import('../../../infra/pulumi');
    await settle();
    expect(await valueOf(entry.url)).toBe('https://gpt2-azure.example.azurecontainerapps.io');
    expect(await valueOf(entry.registry)).toMatch(/^gpt2azure[0-9a-f]{8}\.azurecr\.io$/);
    expect(await valueOf(entry.identity)).toBe('gpt2-azure-id-principal');
    const keys = await valueOf(entry.apiKeysSecret);
    expect(keys).toMatch(/^https:\/\/gpt2-azure-kv-[0-9a-f]{7}\.vault\.azure\.net\/secrets\/api-keys$/);
    expect(await valueOf(entry.apiKeysReadCommand)).toContain(`--id ${keys}`);
    expect(await valueOf(entry.modelRevision)).toBe('main');
    // A spec image without a registry host runs from the stack's own registry.
    const app = ofType(captured, 'azure-native:app:ContainerApp')[0]!;
    expect(app.inputs.template.containers[0].image).toBe(`${await valueOf(entry.registry)}/gpt2-openai-toolkit:gpu`);
  });

  it('is the file Pulumi.yaml names as main, under the project name the config keys use', () => {
    const project = readFileSync(path.join(root, 'Pulumi.yaml'), 'utf8');
    expect(project).toMatch(/^name: gpt2-openai-toolkit$/m);
    const main = /^main: (.+)$/m.exec(project)?.[1];
    expect(main).toBeDefined();
    expect(require.resolve(path.join(root, main ?? ''))).toBe(require.resolve('../../../infra/pulumi'));
    expect(project).toContain('nodeargs: "--import tsx"');
  });
});

describe('deployStack', () => {
  it.each(['azure-inference', 'azure-proxy', 'gcp-inference', 'gcp-proxy'])('accepts the example spec deploy/%s.json', (name) => {
    const spec = loadDeploymentSpec(path.join(root, 'deploy', `${name}.json`));
    const stackFile = readFileSync(path.join(root, `Pulumi.${name}.yaml`), 'utf8');
    expect(stackFile).toContain(`gpt2-openai-toolkit:spec: deploy/${name}.json`);
    const outputs = deployStack({ ...spec, name: `ex-${name}` }, { openaiApiKey: pulumi.secret('sk-example-key') }, { projectRoot: root });
    expect(outputs.url).toBeDefined();
  });

  it('declares only the registry and identity with registryOnly, without needing an image or keys', async () => {
    const spec = parseDeploymentSpec({ name: 'boot-gcp', target: 'gcp', variant: 'proxy' });
    const outputs = deployStack(spec, {}, { registryOnly: true });
    await settle();
    const types = captured.filter((r) => r.name.startsWith('boot-gcp')).map((r) => r.type);
    expect(types).toContain('gcp:artifactregistry/repository:Repository');
    expect(types).toContain('gcp:serviceaccount/account:Account');
    expect(types).not.toContain('gcp:cloudrunv2/service:Service');
    expect(outputs.url).toBeUndefined();
    expect(await valueOf(outputs.registry)).toBe('europe-west4-docker.pkg.dev/demo-project/boot-gcp');
  });

  it('sends AWS specs to the CDK app and local specs to compose', () => {
    expect(() => deployStack(parseDeploymentSpec({ name: 'aws-x', target: 'aws' }), {})).toThrow(/cdk deploy/);
    expect(() => deployStack(parseDeploymentSpec({ name: 'local-x', target: 'local' }), {})).toThrow(/compose/);
  });
});
