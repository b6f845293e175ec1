import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AutoTokenizer, env, PreTrainedTokenizer } from '@huggingface/transformers';
import {
  createGpt2Tokenizer,
  decodeTokens,
  GPT2_EOS_TOKEN_ID,
  tokenBytes,
  tokenText,
} from '../../../service/engine/tokenizer';
import { tinyModelDir } from '../../support/models';

const ours = createGpt2Tokenizer();
let hf: PreTrainedTokenizer;
/** Hugging Face's tokenizer with `<|endoftext|>` not registered as an added token: plain-text GPT-2 BPE. */
let hfPlain: PreTrainedTokenizer;

beforeAll(async () => {
  const dir = await tinyModelDir();
  env.allowRemoteModels = false;
  env.localModelPath = dirname(dir);
  hf = await AutoTokenizer.from_pretrained(basename(dir));
  const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  hfPlain = new PreTrainedTokenizer({ ...json, added_tokens: [] }, { ...config, added_tokens_decoder: {} });
});

const hfIds = (tokenizer: PreTrainedTokenizer, text: string): number[] =>
  tokenizer.encode(text, { add_special_tokens: false });

const EDGE_CASES: Record<string, string> = {
  'emoji': 'I like 🍕 and 🚀!',
  'ZWJ family emoji': 'family: 👨‍👩‍👧‍👦 and 🏳️‍🌈',
  'skin tones': '👍🏽👋🏿 🤝🏻',
  'CJK': '日本語のテキストと中文文本，还有한국어.',
  'combining marks': 'e\u0301 a\u0308 n\u0303 (decomposed) vs é ä ñ; Zalgo: Z\u0351\u036b\u0343a\u0352l\u0350g\u0344o',
  'RTL': 'שלום עולם and مرحبا بالعالم with \u202Eoverride\u202C',
  'whitespace runs': 'a  b   c\t\td\n\ne \r\n f \u00a0g\u2003h    \n\t  end   ',
  'leading and trailing spaces': '   padded text   ',
  'contractions': "I'm sure you're right, it's what they'd've said; don't WON'T y'all",
  'numbers': '3.14159 1,000,000 2024-11-29 0x1F 1e-9 -42 ١٢٣ ½',
  'endoftext inside text': 'before<|endoftext|>after <|endoftext|> and <|endoftext',
  'symbols and code': 'fn main() { println!("{}", x?.y ?? 0); } // <tag attr="v"/> $$ \\n',
  'astral and control characters': '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000\u0007 \ufeff BOM 𓀀',
};

/** A few KB of mixed-script, mixed-format text, built from the cases above and prose. */
const MIXED_TEXT = [
  'The quick brown fox jumps over the lazy dog. ',
  'Il était une fois, dans un pays lointain… ',
  'Über den Wolken muss die Freiheit wohl grenzenlos sein. ',
  'Быстрая коричневая лиса прыгает через ленивую собаку. ',
  '色は匂へど散りぬるを 我が世誰ぞ常ならむ ',
  '## Heading\n\n- item one\n- item two\n\n```python\nprint("hi")\n```\n',
  ...Object.values(EDGE_CASES),
]
  .join('\n')
  .repeat(4);

describe('createGpt2Tokenizer', () => {
  it.each(Object.entries(EDGE_CASES))('encodes %s to the same ids as Hugging Face, and decodes back', (_name, text) => {
    const ids = ours.encode(text);
    // Hugging Face would read `<|endoftext|>` as the special token; our users' text is plain text.
    expect(ids).toEqual(hfIds(text.includes('<|endoftext|>') ? hfPlain : hf, text));
    expect(ours.decode(ids)).toBe(text);
  });

  it(`encodes ${MIXED_TEXT.length} characters of mixed text like Hugging Face, and decodes back`, () => {
    expect(MIXED_TEXT.length).toBeGreaterThan(3000);
    const ids = ours.encode(MIXED_TEXT);
    expect(ids).toEqual(hfIds(hfPlain, MIXED_TEXT));
    expect(ours.decode(ids)).toBe(MIXED_TEXT);
    expect(hf.decode(ids)).toBe(MIXED_TEXT);
  });

  it('never produces the EOS id from user text, unlike a special-token-aware encode', () => {
    const text = 'a <|endoftext|> b';
    expect(hfIds(hf, text)).toContain(GPT2_EOS_TOKEN_ID);
    expect(ours.encode(text)).not.toContain(GPT2_EOS_TOKEN_ID);
  });

  it('describes GPT-2: EOS 50256, 50257 tokens, EOS decodes to its marker', () => {
    expect(ours.eosTokenId).toBe(50256);
    expect(ours.vocabSize).toBe(50257);
    expect(ours.decode([GPT2_EOS_TOKEN_ID])).toBe('<|endoftext|>');
  });

  it('rejects ids outside the vocabulary with a message naming the range', () => {
    expect(() => ours.decode([50257])).toThrow(/not in GPT-2's vocabulary \(0\.\.50256\)/);
    expect(() => tokenBytes(-1)).toThrow(RangeError);
  });
});

describe('tokenBytes and tokenText', () => {
  it('gives every token the bytes Hugging Face decodes it to', () => {
    const utf8 = new TextDecoder();
    const mismatches: number[] = [];
    for (let id = 0; id < ours.vocabSize; id++) {
      if (utf8.decode(tokenBytes(id)) !== hf.decode([id])) mismatches.push(id);
    }
    expect(mismatches).toEqual([]);
  });

  it('concatenates to the UTF-8 bytes of the text, even where tokens split a character', () => {
    const text = EDGE_CASES['ZWJ family emoji']! + EDGE_CASES['CJK']!;
    const ids = ours.encode(text);
    const bytes = Buffer.concat(ids.map((id) => tokenBytes(id)));
    expect(bytes.equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('names a token that is part of a character by its bytes, like OpenAI', () => {
    // 👍 (F0 9F 91 8D) is split by GPT-2's BPE into partial-UTF-8 tokens.
    const ids = ours.encode('👍');
    expect(ids.length).toBeGreaterThan(1);
    const texts = ids.map(tokenText);
    expect(texts.every((t) => /^bytes:(\\x[0-9a-f]{2})+$/.test(t))).toBe(true);
    expect(texts.map((t) => t.slice('bytes:'.length)).join('')).toBe('\\xf0\\x9f\\x91\\x8d');
  });

  it('gives whole-character tokens their plain text', () => {
    const [id] = ours.encode(' hello');
    expect(tokenText(id!)).toBe(' hello');
    expect(tokenText(GPT2_EOS_TOKEN_ID)).toBe('<|endoftext|>');
  });

  it('decodeTokens replaces an incomplete character with U+FFFD, as Hugging Face does', () => {
    const partial = ours.encode('👍').slice(0, 1);
    expect(decodeTokens(partial)).toBe(hf.decode(partial));
    expect(decodeTokens(partial)).toContain('\ufffd');
  });
});
