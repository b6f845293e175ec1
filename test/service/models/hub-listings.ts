// File listings of the hub repositories the aliases name, as their pages showed them (the README's
// "Models" cites each page). Paths only: what the fetcher's choice depends on. Where a page was
// not found, the comment says what the listing is taken from instead.

const ONNX_COMMUNITY_ROOT = ['.gitattributes', 'README.md', 'config.json', 'generation_config.json', 'merges.txt', 'quantize_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json'];
const XENOVA_ROOT = ['.gitattributes', 'README.md', 'config.json', 'generation_config.json', 'merges.txt', 'quantize_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json'];
const onnx = (...names: string[]) => names.map((name) => `onnx/${name}`);

export const HUB_LISTINGS: Readonly<Record<string, readonly string[]>> = {
  // https://huggingface.co/onnx-community/gpt2-ONNX/tree/main and /tree/main/onnx (commit 1975fb9)
  'onnx-community/gpt2-ONNX': [
    ...ONNX_COMMUNITY_ROOT.filter((f) => f !== 'README.md'),
    ...onnx('model.onnx', 'model_bnb4.onnx', 'model_fp16.onnx', 'model_int8.onnx', 'model_q4.onnx', 'model_q4f16.onnx', 'model_quantized.onnx', 'model_uint8.onnx'),
  ],
  // https://huggingface.co/onnx-community/gpt2-large-ONNX/tree/main/onnx (commit ff2ce7c); the root as
  // gpt2-xl-ONNX's, uploaded by the same account with the same tool.
  'onnx-community/gpt2-large-ONNX': [
    ...ONNX_COMMUNITY_ROOT,
    ...onnx('model.onnx', 'model.onnx_data', 'model_bnb4.onnx', 'model_bnb4.onnx_data', 'model_fp16.onnx', 'model_int8.onnx', 'model_q4.onnx', 'model_q4.onnx_data', 'model_q4f16.onnx', 'model_quantized.onnx', 'model_uint8.onnx'),
  ],
  // https://huggingface.co/onnx-community/gpt2-xl-ONNX/tree/main and /tree/main/onnx (commit 045d09c;
  // the onnx/ page excerpt ends at model_quantized.onnx)
  'onnx-community/gpt2-xl-ONNX': [
    ...ONNX_COMMUNITY_ROOT,
    ...onnx('model.onnx', 'model.onnx_data', 'model_bnb4.onnx', 'model_bnb4.onnx_data', 'model_fp16.onnx', 'model_fp16.onnx_data', 'model_int8.onnx', 'model_q4.onnx', 'model_q4.onnx_data', 'model_q4f16.onnx', 'model_q4f16.onnx_data', 'model_quantized.onnx'),
  ],
  // https://huggingface.co/Xenova/distilgpt2/tree/16be0a7.../onnx (16be0a7 is main's README commit); the
  // root as Xenova/gpt2's (https://huggingface.co/Xenova/gpt2/tree/main), the same conversion script's.
  'Xenova/distilgpt2': [
    ...XENOVA_ROOT,
    ...onnx('decoder_model.onnx', 'decoder_model_fp16.onnx', 'decoder_model_merged.onnx', 'decoder_model_merged_quantized.onnx', 'decoder_model_quantized.onnx', 'decoder_with_past_model.onnx', 'decoder_with_past_model_quantized.onnx'),
  ],
  // https://huggingface.co/openai-community/gpt2-medium/tree/main/onnx (commit f65d496); the root's
  // tokenizer files from its refs/pr/5/tokenizer.json page and tokenizer_config.json from its duplicates.
  'openai-community/gpt2-medium': [
    'config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json',
    ...onnx('config.json', 'decoder_model.onnx', 'decoder_model_merged.onnx', 'decoder_with_past_model.onnx', 'generation_config.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json'),
  ],
};
