// config.json (transformers' GPT2Config fields) and generation_config.json for a written model.
import { END_OF_TEXT_ID, type Gpt2Shape } from './presets';

export function gpt2ConfigJson(shape: Gpt2Shape, name: string): string {
  return JSON.stringify(
    {
      _name_or_path: name,
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      activation_function: 'gelu_new',
      n_layer: shape.nLayer,
      n_head: shape.nHead,
      n_embd: shape.nEmbd,
      n_inner: null,
      n_positions: shape.nPositions,
      n_ctx: shape.nPositions,
      vocab_size: shape.vocabSize,
      bos_token_id: END_OF_TEXT_ID,
      eos_token_id: END_OF_TEXT_ID,
      layer_norm_epsilon: 1e-5,
      initializer_range: shape.initStd,
      attn_pdrop: 0.1,
      embd_pdrop: 0.1,
      resid_pdrop: 0.1,
      scale_attn_weights: true,
      use_cache: true,
      task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
    },
    null,
    2,
  );
}

export function generationConfigJson(): string {
  return JSON.stringify({ bos_token_id: END_OF_TEXT_ID, eos_token_id: END_OF_TEXT_ID }, null, 2);
}
