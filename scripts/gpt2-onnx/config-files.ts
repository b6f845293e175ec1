// config.json (transformers' GPT2Config fields) and generation_config.json for a written model.
import type { Gpt2Shape } from './presets';

/** The special ids config.json and generation_config.json name (the tokenizer's). */
export interface SpecialIds {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

export function gpt2ConfigJson(shape: Gpt2Shape, name: string, ids: SpecialIds): string {
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
      bos_token_id: ids.bosTokenId,
      eos_token_id: ids.eosTokenId,
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

export function generationConfigJson(ids: SpecialIds): string {
  return JSON.stringify({ bos_token_id: ids.bosTokenId, eos_token_id: ids.eosTokenId }, null, 2);
}
