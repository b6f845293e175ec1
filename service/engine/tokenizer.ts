// GPT-2's byte-level BPE (r50k_base, via gpt-tokenizer): text <-> token ids, and each token's raw
// bytes so callers can decode incrementally and name partial UTF-8 tokens OpenAI-style (`bytes:\xNN`).
// The fast path loadTokenizer takes when a model's tokenizer.json is GPT-2's own.
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encode as encodeR50k } from 'gpt-tokenizer/encoding/r50k_base';
import { IncrementalDecoder } from './incremental-decoder';
import type { Tokenizer } from './types';

export const GPT2_EOS_TOKEN_ID = 50256;
export const GPT2_VOCAB_SIZE = 50257;
const EOS_TEXT = '<|endoftext|>';

/**
 * User text is plain text: `<|endoftext|>` typed by a user encodes as ordinary tokens, never as the
 * EOS id (callers add EOS by id). gpt-tokenizer's default throws on it instead.
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Every token's bytes in one buffer: token i is bytes[offsets[i]..offsets[i + 1]). */
interface ByteTable {
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
}

let table: ByteTable | undefined;

/**
 * Built on first use (tens of ms) from gpt-tokenizer's rank table, which holds a string per token
 * whose bytes are valid UTF-8 and a byte array for the 344 tokens that are not.
 */
function byteTable(): ByteTable {
  if (table) return table;
  const encoder = new TextEncoder();
  const pieces: Uint8Array[] = r50kRanks.map((entry) =>
    typeof entry === 'string' ? encoder.encode(entry) : Uint8Array.from(entry),
  );
  pieces.push(encoder.encode(EOS_TEXT));
  if (pieces.length !== GPT2_VOCAB_SIZE) {
    throw new Error(
      `gpt-tokenizer's r50k_base table has ${pieces.length} tokens, expected ${GPT2_VOCAB_SIZE}: ` +
        'pin a gpt-tokenizer version that ships the GPT-2 ranks unchanged.',
    );
  }
  const offsets = new Uint32Array(pieces.length + 1);
  pieces.forEach((piece, i) => (offsets[i + 1] = offsets[i]! + piece.length));
  const bytes = new Uint8Array(offsets[pieces.length]!);
  pieces.forEach((piece, i) => bytes.set(piece, offsets[i]));
  table = { bytes, offsets };
  return table;
}

function checkId(id: number): void {
  if (!(Number.isInteger(id) && id >= 0 && id < GPT2_VOCAB_SIZE)) {
    throw new RangeError(`Token id ${id} is not in GPT-2's vocabulary (0..${GPT2_VOCAB_SIZE - 1}).`);
  }
}

/** The raw bytes of one token (a view into a shared table: do not modify). EOS gives `<|endoftext|>`. */
export function tokenBytes(id: number): Uint8Array {
  checkId(id);
  const { bytes, offsets } = byteTable();
  return bytes.subarray(offsets[id]!, offsets[id + 1]!);
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lenientDecoder = new TextDecoder('utf-8');

/**
 * One token's text as OpenAI reports it in logprobs: the text itself when its bytes are whole
 * UTF-8 characters, otherwise `bytes:` followed by `\xNN` per byte (e.g. half of an emoji).
 */
export function tokenText(id: number): string {
  const bytes = tokenBytes(id);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return `bytes:${Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}`;
  }
}

/** Text of a token sequence; byte sequences that are not valid UTF-8 become U+FFFD, as in Hugging Face. */
export function decodeTokens(ids: readonly number[]): string {
  const { bytes, offsets } = byteTable();
  let length = 0;
  for (const id of ids) {
    checkId(id);
    length += offsets[id + 1]! - offsets[id]!;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const id of ids) {
    out.set(bytes.subarray(offsets[id]!, offsets[id + 1]!), at);
    at += offsets[id + 1]! - offsets[id]!;
  }
  return lenientDecoder.decode(out);
}

/** `<|endoftext|>` in rendered chat-template text is the EOS token; the text between is plain text. */
function encodeWithEndOfText(text: string): number[] {
  return text.split(EOS_TEXT).flatMap((piece, i) => (i === 0 ? encodeR50k(piece, PLAIN_TEXT) : [GPT2_EOS_TOKEN_ID, ...encodeR50k(piece, PLAIN_TEXT)]));
}

export interface Gpt2TokenizerOptions {
  /** From tokenizer_config.json. @default undefined */
  readonly chatTemplate?: string | undefined;
  /** @default bos, eos and unk = `<|endoftext|>` */
  readonly specialTokens?: Readonly<Record<string, string>>;
}

export function createGpt2Tokenizer(options: Gpt2TokenizerOptions = {}): Tokenizer {
  return {
    encode: (text) => encodeR50k(text, PLAIN_TEXT),
    encodeWithSpecialTokens: encodeWithEndOfText,
    decode: decodeTokens,
    tokenText,
    tokenBytes,
    createDecoder: () => new IncrementalDecoder(tokenBytes),
    eosTokenId: GPT2_EOS_TOKEN_ID,
    vocabSize: GPT2_VOCAB_SIZE,
    chatTemplate: options.chatTemplate,
    specialTokens: options.specialTokens ?? { bos_token: EOS_TEXT, eos_token: EOS_TEXT, unk_token: EOS_TEXT },
    kind: 'gpt2-bpe',
  };
}
