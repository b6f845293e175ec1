import * as pulumi from '@pulumi/pulumi';
import { GPU_PROFILES } from '../../../infra/azure/workload-profiles';
import { GPU_SHAPES } from '../../../infra/gcp/accelerators';
import { checkModelFitsGpu, enforceModelFitsGpu } from '../../../infra/pulumi/model-sizing';
import { parseDeploymentSpec, SpecError, TARGET_DEFAULTS, type DeploymentSpecInput } from '../../../infra/spec';

const T4 = { name: 'NVIDIA T4 16 GB', memoryBytes: 16e9 };

function spec(input: Partial<DeploymentSpecInput> = {}) {
  return parseDeploymentSpec({ name: 'sizing', target: 'azure', ...input });
}

describe('checkModelFitsGpu', () => {
  it("fits each target's default model on each target's default GPU", () => {
    const azureGpu = GPU_PROFILES[TARGET_DEFAULTS.azure.gpuType]!.gpu!;
    const gcpGpu = GPU_SHAPES[TARGET_DEFAULTS.gcp.gpuType]!.gpu!;
    expect(checkModelFitsGpu(spec(), azureGpu)).toMatchObject({ kind: 'fits', size: 'gpt2', batch: 8 });
    expect(checkModelFitsGpu(spec({ target: 'gcp' }), gcpGpu)).toMatchObject({ kind: 'fits', size: 'gpt2', batch: 8 });
  });

  it('counts the batch at full context: gpt2-xl fp32 fits 14 sequences on a T4, not 15', () => {
    const at = (targetConcurrency: number) => spec({ model: { id: 'gpt2-xl' }, scaling: { targetConcurrency } });
    expect(checkModelFitsGpu(at(14), T4)).toMatchObject({ kind: 'fits', maxBatch: 14 });
    expect(() => checkModelFitsGpu(at(15), T4)).toThrow(SpecError);
    expect(() => checkModelFitsGpu(at(15), T4)).toThrow(/needs 16\.2 GB \(weights 6\.2 GB \+ KV cache 9\.4 GB \+ runtime 0\.5 GB\)/);
  });

  it('sizes by model.size over the id, and by dtype', () => {
    // fp16 halves the weights (the published fp16 graphs keep an fp32 KV cache): 19 sequences instead of fp32's 14.
    const halfPrecision = spec({ model: { id: 'acme/private-xl', size: 'gpt2-xl', dtype: 'fp16' }, scaling: { targetConcurrency: 19 } });
    expect(checkModelFitsGpu(halfPrecision, T4)).toMatchObject({ kind: 'fits', size: 'gpt2-xl', maxBatch: 19 });
  });

  it('says when the weights alone do not fit', () => {
    expect(() => checkModelFitsGpu(spec({ model: { id: 'gpt2-xl' } }), { name: 'tiny GPU', memoryBytes: 4e9 })).toThrow(/weights alone do not fit/);
  });

  it('reports an id it cannot size instead of guessing', () => {
    expect(checkModelFitsGpu(spec({ model: { id: 'acme/tiny-lm' } }), T4)).toEqual({ kind: 'unknown-model', modelId: 'acme/tiny-lm' });
  });
});

describe('enforceModelFitsGpu', () => {
  afterEach(() => jest.restoreAllMocks());

  it('warns about an unsized model, naming model.size, and warns about nothing else', () => {
    const warn = jest.spyOn(pulumi.log, 'warn').mockResolvedValue();
    enforceModelFitsGpu(spec({ model: { id: 'acme/tiny-lm' } }), T4);
    enforceModelFitsGpu(spec(), T4);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/acme\/tiny-lm names no GPT-2 family member.*set model\.size/);
  });
});
