// Makes the model's tokenizer from its folder: config.json (vocabulary width, EOS), tokenizer.json,
// tokenizer_config.json (special tokens, chat template) and chat_template.jinja. GPT-2's own
// byte-level BPE takes the fast gpt-tokenizer path; any other tokenizer.json goes through
// @huggingface/tokenizers. One function, so every thread that needs the tokenizer builds the same one.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { z } from 'zod';
import { ModelLoadError } from './errors';
import { byteLevelDecoding, createHfTokenizer, type TokenizerJson } from './hf-tokenizer';
import { readConfig, type Gpt2Config } from './model-config';
import { createGpt2Tokenizer, GPT2_EOS_TOKEN_ID, GPT2_VOCAB_SIZE } from './tokenizer';
import type { Tokenizer } from './types';

const TokenizerFile = z
  .object({
    model: z.looseObject({ type: z.string(), vocab: z.unknown(), merges: z.array(z.unknown()).optional(), byte_fallback: z.boolean().nullish() }),
    normalizer: z.unknown().optional(),
    pre_tokenizer: z.looseObject({ type: z.string(), add_prefix_space: z.boolean().optional() }).nullish(),
    decoder: z.looseObject({ type: z.string(), decoders: z.array(z.looseObject({ type: z.string() })).optional() }).nullish(),
    added_tokens: z.array(z.looseObject({ id: z.number().int().nonnegative(), content: z.string() })).optional(),
  })
  .loose();
type ParsedTokenizerJson = z.infer<typeof TokenizerFile>;

/** A special token in tokenizer_config.json: a string, or an AddedToken dict with its `content`. */
const SpecialToken = z.union([z.string(), z.looseObject({ content: z.string() }).transform((t) => t.content)]);
const ChatTemplates = z.union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))]);

export async function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  const config = await readConfig(modelDir);
  const json = await readTokenizerJson(modelDir);
  const tokenizerConfig = await readJsonObject(modelDir, 'tokenizer_config.json');
  const specialTokens = { ...specialTokensOf(await readJsonObject(modelDir, 'special_tokens_map.json')), ...specialTokensOf(tokenizerConfig) };
  const chatTemplate = await chatTemplateOf(modelDir, tokenizerConfig);
  if (isGpt2Tokenizer(json) && config.vocabSize === GPT2_VOCAB_SIZE && config.eosTokenId === GPT2_EOS_TOKEN_ID) {
    return createGpt2Tokenizer({ chatTemplate, ...(Object.keys(specialTokens).length > 0 ? { specialTokens } : {}) });
  }
  const hf = new HfTokenizer(json, tokenizerConfig);
  const largest = Math.max(...hf.get_vocab(true).values());
  if (largest >= config.vocabSize) {
    throw new ModelLoadError(
      `MODEL_DIR=${modelDir}: tokenizer.json has token ids up to ${largest} but config.json says vocab_size=${config.vocabSize} (the width of the logits); the tokenizer does not belong to this model`,
    );
  }
  const eosTokenId = resolveEos(config, specialTokens, (token) => hf.token_to_id(token), modelDir);
  return createHfTokenizer(hf, json as TokenizerJson, { vocabSize: config.vocabSize, eosTokenId, chatTemplate, specialTokens });
}

async function readTokenizerJson(dir: string): Promise<ParsedTokenizerJson> {
  const text = await readFile(join(dir, 'tokenizer.json'), 'utf8').catch(() => undefined);
  if (text === undefined) {
    throw new ModelLoadError(`MODEL_DIR=${dir} has no tokenizer.json (expected the model's Hugging Face tokenizer beside config.json; re-fetch the model or copy tokenizer.json from its repository)`);
  }
  const parsed = TokenizerFile.safeParse(parseJson(text, `MODEL_DIR=${dir}: tokenizer.json`));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelLoadError(`MODEL_DIR=${dir}: tokenizer.json is not a Hugging Face tokenizer file (${problems})`);
  }
  return parsed.data;
}

async function readJsonObject(dir: string, name: string): Promise<Record<string, unknown>> {
  const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  const json = parseJson(text, `MODEL_DIR=${dir}: ${name}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelLoadError(`MODEL_DIR=${dir}: ${name} is not a JSON object`);
  return json as Record<string, unknown>;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${where} is not valid JSON (${(error as Error).message}); re-fetch the model`);
  }
}

/** `bos_token`, `eos_token`, `unk_token`, ... as strings. */
function specialTokensOf(config: Readonly<Record<string, unknown>>): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.endsWith('_token')) continue;
    const parsed = SpecialToken.safeParse(value);
    if (parsed.success) tokens[key] = parsed.data;
  }
  return tokens;
}

/** chat_template.jinja (what transformers saves since 4.43), else tokenizer_config.json's `chat_template` (its `default` when named). */
async function chatTemplateOf(dir: string, config: Readonly<Record<string, unknown>>): Promise<string | undefined> {
  const file = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => undefined);
  if (file !== undefined) return file;
  if (config.chat_template === undefined || config.chat_template === null) return undefined;
  const parsed = ChatTemplates.safeParse(config.chat_template);
  if (!parsed.success) throw new ModelLoadError(`MODEL_DIR=${dir}: tokenizer_config.json's chat_template is neither a string nor a list of {name, template}`);
  if (typeof parsed.data === 'string') return parsed.data;
  return (parsed.data.find((t) => t.name === 'default') ?? parsed.data[0])?.template;
}

/**
 * config.json's eos_token_id when it is a token of the vocabulary; some BERT-vocabulary GPT-2
 * models keep GPT-2's 50256 there, outside their 21,128 ids: then the tokenizer's eos or sep token.
 */
function resolveEos(config: Gpt2Config, special: Readonly<Record<string, string>>, idOf: (token: string) => number | undefined, dir: string): number {
  if (config.eosTokenId < config.vocabSize) return config.eosTokenId;
  for (const key of ['eos_token', 'sep_token']) {
    const token = special[key];
    const id = token === undefined ? undefined : idOf(token);
    if (id !== undefined) return id;
  }
  throw new ModelLoadError(
    `MODEL_DIR=${dir}: config.json's eos_token_id=${config.eosTokenId} is outside vocab_size=${config.vocabSize} and tokenizer_config.json names no eos_token or sep_token: set eos_token_id in config.json to the model's end-of-text token`,
  );
}

/**
 * Whether tokenizer.json is GPT-2's byte-level BPE exactly: the same 50,257 tokens with the same
 * ids (compared byte for byte with gpt-tokenizer's r50k table), merge i making token 256 + i,
 * `<|endoftext|>` the only added token, no normalizer and no prefix space. Then gpt-tokenizer,
 * which matches Hugging Face's ids, encodes it about ten times faster.
 */
export function isGpt2Tokenizer(json: ParsedTokenizerJson): boolean {
  const { model } = json;
  if (model.type !== 'BPE' || (json.normalizer !== undefined && json.normalizer !== null)) return false;
  if (json.pre_tokenizer?.type !== 'ByteLevel' || json.pre_tokenizer.add_prefix_space === true) return false;
  const added = json.added_tokens ?? [];
  if (added.length !== 1 || added[0]?.id !== GPT2_EOS_TOKEN_ID || added[0].content !== '<|endoftext|>') return false;
  if (typeof model.vocab !== 'object' || model.vocab === null || Array.isArray(model.vocab)) return false;
  const vocab = Object.entries(model.vocab as Record<string, unknown>);
  if (vocab.length !== GPT2_VOCAB_SIZE) return false;
  const merges = model.merges ?? [];
  if (merges.length !== GPT2_VOCAB_SIZE - 257) return false;

  // Tight loops: this runs over 50,257 tokens and 50,000 merges at every start-up.
  const byteOfCode = new Int16Array(512).fill(-1);
  for (const [char, byte] of byteLevelDecoding()) byteOfCode[char.charCodeAt(0)] = byte;
  const encoder = new TextEncoder();
  const buffer = new Uint8Array(1024);
  const pieceById = new Array<string>(GPT2_VOCAB_SIZE);
  for (const [piece, id] of vocab) {
    if (typeof id !== 'number' || !(id >= 0 && id < GPT2_VOCAB_SIZE)) return false;
    pieceById[id] = piece;
  }
  for (let id = 0; id < GPT2_EOS_TOKEN_ID; id++) {
    const piece = pieceById[id];
    const rank = r50kRanks[id];
    if (piece === undefined || rank === undefined) return false;
    const expected = typeof rank === 'string' ? buffer.subarray(0, encoder.encodeInto(rank, buffer).written) : rank;
    if (piece.length !== expected.length) return false;
    for (let k = 0; k < piece.length; k++) {
      const code = piece.charCodeAt(k);
      if (code >= 512 || byteOfCode[code] !== expected[k]) return false;
    }
  }
  return merges.every((merge, i) => {
    if (typeof merge === 'string') {
      const space = merge.indexOf(' ');
      return space > 0 && merge.slice(0, space) + merge.slice(space + 1) === pieceById[256 + i];
    }
    return Array.isArray(merge) && merge.length === 2 && `${merge[0]}${merge[1]}` === pieceById[256 + i];
  });
}
