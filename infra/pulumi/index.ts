// Entry of the Pulumi program (Pulumi.yaml `main`): reads stack config `spec` (a deploy/*.json path) and
// deploys it to the cloud the spec names. Stack outputs: url, registry, identity, and for inference
// apiKeysSecret (with apiKeysReadCommand) and modelRevision. Stack config `registryOnly: true` declares just
// the registry and identity, to push a first image into.
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { loadDeploymentSpec } from '../spec';
import { deployStack } from './program';
import { readProxySecretConfig } from './proxy-secrets';

const config = new pulumi.Config();
// Relative paths are from the project root (where Pulumi.yaml is), whatever the working directory.
const projectRoot = path.join(__dirname, '..', '..');
const specPath = path.resolve(projectRoot, config.require('spec'));
const outputs = deployStack(loadDeploymentSpec(specPath), readProxySecretConfig(config), {
  registryOnly: config.getBoolean('registryOnly') ?? false,
  projectRoot,
});

export const url = outputs.url;
export const registry = outputs.registry;
export const identity = outputs.identity;
export const apiKeysSecret = outputs.apiKeysSecret;
export const apiKeysReadCommand = outputs.apiKeysReadCommand;
export const modelRevision = outputs.modelRevision;
