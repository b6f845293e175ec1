// Any Hugging Face tokenizer.json that is not GPT-2's own (WordPiece vocabularies of Chinese GPT-2
// models, byte-level BPE with other merges, SentencePiece Unigram/BPE with byte fallback) through
// @huggingface/tokenizers, the tokenizer library transformers.js itself uses: ids <-> text, each
// token's text and bytes for logprobs, and windowed streaming decoders.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { WindowDecoder } from './incremental-decoder';
import type { Tokenizer } from './types';

/** The parts of tokenizer.json this module reads; the library reads the rest. */
export interface TokenizerJson {
  readonly model: { readonly type: string; readonly byte_fallback?: boolean | null };
  readonly decoder?: { readonly type: string; readonly decoders?: readonly { readonly type: string }[] } | null;
  readonly added_tokens?: readonly { readonly id: number; readonly content: string }[];
}

export interface HfTokenizerOptions {
  readonly vocabSize: number;
  readonly eosTokenId: number;
  readonly chatTemplate: string | undefined;
  readonly specialTokens: Readonly<Record<string, string>>;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** @param hf the library's tokenizer built from `json` and tokenizer_config.json */
export function createHfTokenizer(hf: HfTokenizer, json: TokenizerJson, options: HfTokenizerOptions): Tokenizer {
  // The library refuses an empty list; its text is ''.
  const decode = (ids: readonly number[]): string => (ids.length === 0 ? '' : hf.decode([...ids], { skip_special_tokens: false }));
  const added = new Set((json.added_tokens ?? []).map((token) => token.id));
  const byteLevel = usesDecoder(json, 'ByteLevel');
  const byteFallback = json.model.byte_fallback === true;
  const unicodeToByte = byteLevel ? byteLevelDecoding() : undefined;

  /** The token's bytes: byte-level pieces map back through GPT-2's byte alphabet, `<0xNN>` is one byte. */
  const tokenBytes = (id: number): Uint8Array => {
    const piece = hf.id_to_token(id);
    if (piece === undefined) return new Uint8Array(0);
    if (unicodeToByte && !added.has(id)) {
      const bytes = [...piece].map((char) => unicodeToByte.get(char));
      if (bytes.every((b) => b !== undefined)) return Uint8Array.from(bytes as number[]);
    }
    const byte = byteFallback ? BYTE_TOKEN.exec(piece) : null;
    if (byte) return Uint8Array.of(parseInt(byte[1] as string, 16));
    return encoder.encode(decode([id]));
  };

  return {
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    // The library splits added tokens out of any text, so the two encodings are the same here.
    encodeWithSpecialTokens: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode,
    tokenText: (id) => {
      const bytes = tokenBytes(id);
      try {
        return strictDecoder.decode(bytes);
      } catch {
        return `bytes:${Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}`;
      }
    },
    tokenBytes,
    createDecoder: (prompt) => new WindowDecoder(decode, prompt),
    eosTokenId: options.eosTokenId,
    vocabSize: options.vocabSize,
    chatTemplate: options.chatTemplate,
    specialTokens: options.specialTokens,
    kind: json.model.type,
  };
}

function usesDecoder(json: TokenizerJson, type: string): boolean {
  const decoder = json.decoder;
  if (!decoder) return false;
  return decoder.type === type || (decoder.type === 'Sequence' && (decoder.decoders ?? []).some((d) => d.type === type));
}

/**
 * GPT-2's bytes_to_unicode, inverted: byte-level BPE writes every byte as a printable character
 * (printable Latin-1 as itself, the other 68 bytes as U+0100 onwards).
 */
export function byteLevelDecoding(): Map<string, number> {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map<string, number>();
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (printable(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + next++), b);
  }
  return map;
}
