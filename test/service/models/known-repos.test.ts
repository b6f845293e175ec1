// Every alias names a repository whose listing (hub-listings.ts, from the hub's pages) has the files
// a fetch needs; for each, what MODEL_DTYPE downloads, and the error for a dtype it lacks.
import { MODEL_ALIASES, resolveRepoId } from '../../../service/models/hub-client';
import { chooseFiles } from '../../../service/models/hub-fetch';
import type { ModelDtype } from '../../../service/models/footprint';
import { HUB_LISTINGS } from './hub-listings';

const graphsFor = (repo: string, dtype: ModelDtype) =>
  chooseFiles((HUB_LISTINGS[repo] ?? []).map((path) => ({ path, size: 1 })), `${repo}@main`, { dtype })
    .map((f) => f.path)
    .filter((path) => path.startsWith('onnx/'));

describe('the model aliases', () => {
  it('name a repository with a listing each', () => {
    for (const alias of Object.keys(MODEL_ALIASES)) expect(Object.keys(HUB_LISTINGS)).toContain(resolveRepoId(alias));
  });

  it.each([
    ['gpt2', 'fp32', ['onnx/model.onnx']],
    ['gpt2', 'q8', ['onnx/model_quantized.onnx']],
    ['gpt2', 'fp16', ['onnx/model_fp16.onnx']],
    ['gpt2', 'q4', ['onnx/model_q4.onnx']],
    ['distilgpt2', 'fp32', ['onnx/decoder_model_merged.onnx']],
    ['distilgpt2', 'q8', ['onnx/decoder_model_merged_quantized.onnx']],
    ['gpt2-medium', 'fp32', ['onnx/decoder_model_merged.onnx']],
    ['gpt2-large', 'fp32', ['onnx/model.onnx', 'onnx/model.onnx_data']],
    ['gpt2-large', 'q8', ['onnx/model_quantized.onnx']],
    ['gpt2-large', 'q4', ['onnx/model_q4.onnx', 'onnx/model_q4.onnx_data']],
    ['gpt2-xl', 'fp16', ['onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data']],
    ['gpt2-xl', 'q4f16', ['onnx/model_q4f16.onnx', 'onnx/model_q4f16.onnx_data']],
  ] as const)('%s with MODEL_DTYPE=%s downloads %j', (alias, dtype, expected) => {
    expect(graphsFor(resolveRepoId(alias), dtype)).toEqual(expected);
  });

  it('refuse the dtypes their repository lacks, naming the ones it has', () => {
    expect(() => graphsFor(resolveRepoId('gpt2-medium'), 'q8')).toThrow(/^openai-community\/gpt2-medium@main has no q8 graph .*; it has: fp32 \(set MODEL_DTYPE to one of them\)/);
    // Xenova's decoder_model_fp16.onnx is a decoder without past inputs: not a graph the engine runs, so no fp16.
    expect(() => graphsFor(resolveRepoId('distilgpt2'), 'fp16')).toThrow(/has no fp16 graph .*; it has: fp32, q8 .*other ONNX files: .*onnx\/decoder_model_fp16\.onnx/);
  });
});
