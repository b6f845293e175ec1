import { GPT2_FAMILY, gpt2SizeOf, maxBatchAtFullContext, modelFootprint, RUNTIME_OVERHEAD_BYTES } from '../../../service/models/footprint';
import { MODEL_ALIASES } from '../../../service/models/hub-client';

const GIB = 1024 ** 3;

describe('modelFootprint', () => {
  it('counts the published parameter numbers of the GPT-2 family', () => {
    // Hugging Face model cards: 124M, 355M, 774M, 1.5B (distilgpt2: 82M).
    expect(modelFootprint(GPT2_FAMILY.gpt2, 'fp32').parameters).toBe(124_439_808);
    expect(modelFootprint(GPT2_FAMILY.distilgpt2, 'fp32').parameters / 1e6).toBeCloseTo(81.9, 0);
    expect(modelFootprint(GPT2_FAMILY['gpt2-medium'], 'fp32').parameters / 1e6).toBeCloseTo(354.8, 0);
    expect(modelFootprint(GPT2_FAMILY['gpt2-large'], 'fp32').parameters / 1e6).toBeCloseTo(774.0, 0);
    expect(modelFootprint(GPT2_FAMILY['gpt2-xl'], 'fp32').parameters / 1e6).toBeCloseTo(1557.6, 0);
  });

  it('gives fp32 weights of 4 bytes a parameter and a KV cache of 2 x layers x width x 4 bytes a token', () => {
    const gpt2 = modelFootprint(GPT2_FAMILY.gpt2, 'fp32');
    expect(gpt2.weightBytes).toBe(gpt2.parameters * 4);
    expect(gpt2.kvBytesPerToken).toBe(2 * 12 * 768 * 4);
    expect(gpt2.kvBytesPerSequence).toBe(2 * 12 * 768 * 4 * 1024);
  });

  it('halves weights in fp16 (the KV cache stays fp32: the public fp16 exports keep fp32 inputs and outputs) and shrinks only the matrices when quantized', () => {
    const fp32 = modelFootprint(GPT2_FAMILY['gpt2-xl'], 'fp32');
    const fp16 = modelFootprint(GPT2_FAMILY['gpt2-xl'], 'fp16');
    const q4 = modelFootprint(GPT2_FAMILY['gpt2-xl'], 'q4');
    expect(fp16.kvBytesPerToken).toBe(fp32.kvBytesPerToken);
    expect(modelFootprint(GPT2_FAMILY['gpt2-xl'], 'q4f16').kvBytesPerToken).toBe(fp32.kvBytesPerToken);
    expect(Math.abs(fp16.weightBytes * 2 - fp32.weightBytes)).toBeLessThan(fp32.weightBytes * 0.001);
    expect(q4.weightBytes).toBeLessThan(fp16.weightBytes);
    expect(q4.kvBytesPerToken).toBe(fp32.kvBytesPerToken);
  });
});

describe('maxBatchAtFullContext', () => {
  it('fits what is left after weights and runtime into whole sequences at full context', () => {
    const footprint = modelFootprint(GPT2_FAMILY.gpt2, 'fp32');
    const memory = 16 * GIB;
    expect(maxBatchAtFullContext(GPT2_FAMILY.gpt2, 'fp32', memory)).toBe(
      Math.floor((memory - footprint.weightBytes - RUNTIME_OVERHEAD_BYTES) / footprint.kvBytesPerSequence),
    );
  });

  it('is 0 when the weights alone do not fit', () => {
    expect(maxBatchAtFullContext(GPT2_FAMILY['gpt2-xl'], 'fp32', 4 * GIB)).toBe(0);
  });
});

describe('gpt2SizeOf', () => {
  it('maps every alias, the repository it names and other exports of the same checkpoint to the family member', () => {
    for (const [alias, repo] of Object.entries(MODEL_ALIASES)) {
      expect(gpt2SizeOf(alias)).toBe(alias);
      expect(gpt2SizeOf(repo)).toBe(alias);
    }
    expect(gpt2SizeOf('Xenova/gpt2')).toBe('gpt2');
    expect(gpt2SizeOf('openai-community/gpt2-xl')).toBe('gpt2-xl');
    expect(gpt2SizeOf('distilbert/distilgpt2')).toBe('distilgpt2');
    expect(gpt2SizeOf('onnx-community/gpt2-medium-ONNX')).toBe('gpt2-medium');
  });

  it('names no size for fine-tunes and other models, whose shape the spec must give', () => {
    expect(gpt2SizeOf('Felladrin/onnx-gpt2-medium-chat')).toBeUndefined();
    expect(gpt2SizeOf('uer/gpt2-chinese-cluecorpussmall')).toBeUndefined();
    expect(gpt2SizeOf('someone/llama')).toBeUndefined();
  });
});
