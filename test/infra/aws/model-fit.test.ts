import { GPT2_FAMILY, modelFootprint, RUNTIME_OVERHEAD_BYTES } from '../../../service/models/footprint';
import { modelFitFor, modelFitProblem } from '../../../infra/aws/model-fit';
import { awsSpec } from './cdk-app';

describe('modelFitFor', () => {
  it('fits the default model on the default GPU with room to spare', () => {
    const fit = modelFitFor(awsSpec())!;
    expect(fit).toMatchObject({ size: 'gpt2', instanceType: 'g4dn.xlarge', gpuName: 'NVIDIA T4', batch: 8 });
    const footprint = modelFootprint(GPT2_FAMILY.gpt2, 'fp32');
    expect(fit.neededBytes).toBe(footprint.weightBytes + 8 * footprint.kvBytesPerSequence + RUNTIME_OVERHEAD_BYTES);
    // 90% of the T4's 16 GiB.
    expect(fit.availableBytes).toBe(Math.floor(16 * 1024 ** 3 * 0.9));
    expect(modelFitProblem(fit)).toBeUndefined();
  });

  it('reports a model that does not fit with the numbers and the largest batch that would', () => {
    const fit = modelFitFor(awsSpec({ model: { id: 'openai-community/gpt2-xl' }, scaling: { targetConcurrency: 16 } }))!;
    const problem = modelFitProblem(fit);
    // 6.2 GB of weights + 16 x 0.63 GB of KV + 0.5 GB > 15.5 GB.
    expect(problem).toMatch(/^model: gpt2-xl \(fp32\) needs 16\.8 GB of GPU memory on g4dn\.xlarge but its NVIDIA T4 has 15\.5 GB usable/);
    expect(problem).toContain('weights 6.2 GB + KV cache 10.1 GB (16 sequences at full context) + runtime 0.5 GB');
    expect(problem).toContain(`lower scaling.targetConcurrency to ${fit.maxBatch}`);
    expect(fit.maxBatch).toBeGreaterThan(0);
    expect(fit.maxBatch).toBeLessThan(16);
  });

  it('fits the same model on an A10G, and checks spot against the smallest GPU the pools may launch', () => {
    const onG5 = awsSpec({ model: { id: 'openai-community/gpt2-xl' }, scaling: { targetConcurrency: 16 }, compute: { gpuType: 'g5.xlarge' } });
    expect(modelFitProblem(modelFitFor(onG5)!)).toBeUndefined();
    const spotG5 = awsSpec({ model: { id: 'openai-community/gpt2-xl' }, scaling: { targetConcurrency: 16 }, compute: { gpuType: 'g5.xlarge', spot: true } });
    expect(modelFitFor(spotG5)).toMatchObject({ instanceType: 'g4dn.xlarge', gpuName: 'NVIDIA T4' });
    expect(modelFitProblem(modelFitFor(spotG5)!)).toMatch(/on g4dn\.xlarge/);
  });

  it('uses model.size over the id, and skips models of unknown size', () => {
    expect(modelFitFor(awsSpec({ model: { id: 'acme/my-finetune', size: 'gpt2-large' } }))?.size).toBe('gpt2-large');
    expect(modelFitFor(awsSpec({ model: { id: 'acme/my-finetune' } }))).toBeUndefined();
  });

  it('needs less with a smaller dtype', () => {
    const fp32 = modelFitFor(awsSpec({ model: { id: 'gpt2-xl' } }))!;
    const fp16 = modelFitFor(awsSpec({ model: { id: 'gpt2-xl', dtype: 'fp16' } }))!;
    // The published fp16 graphs keep fp32 inputs and outputs, so only the weights halve.
    expect(fp16.weightBytes).toBeLessThan(fp32.weightBytes * 0.6);
    expect(fp16.neededBytes).toBeLessThan(fp32.neededBytes);
  });
});
