// Policy pack entry for `pulumi preview --policy-pack infra/policies`. Constructing a PolicyPack starts
// its gRPC server, so tests import rules.ts instead of this file.
import { PolicyPack } from '@pulumi/policy';
import { resourcePolicies, stackPolicies } from './rules';

new PolicyPack('gpt2-openai-toolkit', {
  description:
    'Guards for the Azure and GCP GPT-2 endpoints: secrets by reference, GPUs and API keys for inference, private metrics, ' +
    'bounded scaling, private TLS Redis, intended ingress.',
  policies: [...resourcePolicies, ...stackPolicies],
});
