// loadTokenizer: GPT-2's own tokenizer.json takes the gpt-tokenizer fast path; anything else goes
// through @huggingface/tokenizers with the same ids, token texts and bytes, streamed deltas that never
// split a character (byte-level, byte-fallback, WordPiece), special ids checked against config.json.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelLoadError } from '../../../service/engine/errors';
import { loadTokenizer } from '../../../service/engine/load-tokenizer';
import { createRng } from '../../../service/engine/rng';
import { createGpt2Tokenizer, GPT2_VOCAB_SIZE } from '../../../service/engine/tokenizer';
import type { Tokenizer } from '../../../service/engine/types';
import { tinyModelDir, tinyVariantDir } from '../../support/models';

let scratch: string;
let tiny: string;
const gpt2 = createGpt2Tokenizer();

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'load-tokenizer-'));
  tiny = await tinyModelDir();
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A folder with config.json (vocab_size, eos) and the given tokenizer files; no graph, which loadTokenizer does not read. */
async function tokenizerFolder(name: string, files: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir, { recursive: true });
  const base = JSON.parse(await readFile(join(tiny, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...base, ...config }));
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

/** The tiny model's GPT-2 tokenizer.json with one more added token: no longer GPT-2's own, so the library path. */
async function gpt2WithAddedToken(): Promise<string> {
  const json = JSON.parse(await readFile(join(tiny, 'tokenizer.json'), 'utf8')) as { added_tokens: unknown[] };
  json.added_tokens.push({ id: 50257, content: '<|pad|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return tokenizerFolder('gpt2-added', { 'tokenizer.json': json, 'tokenizer_config.json': await readFile(join(tiny, 'tokenizer_config.json'), 'utf8') }, { vocab_size: 50258 });
}

function stream(tokenizer: Tokenizer, ids: readonly number[], prompt: readonly number[] = []): string[] {
  const decoder = tokenizer.createDecoder(prompt);
  return [...ids.map((id) => decoder.push(id)), decoder.flush()];
}

/** True when a delta ends in a lone high surrogate or carries U+FFFD: half a character. */
const splitsCharacter = (delta: string) => /[\ud800-\udbff]$/.test(delta) || delta.includes('\ufffd');

describe('loadTokenizer', () => {
  it("takes the fast path for GPT-2's own tokenizer.json, with the folder's special tokens", async () => {
    const tokenizer = await loadTokenizer(tiny);
    expect(tokenizer).toMatchObject({ kind: 'gpt2-bpe', eosTokenId: 50256, vocabSize: GPT2_VOCAB_SIZE, chatTemplate: undefined });
    expect(tokenizer.specialTokens).toMatchObject({ eos_token: '<|endoftext|>' });
  });

  describe('a byte-level BPE that is not exactly GPT-2 (the library path)', () => {
    let tokenizer: Tokenizer;
    beforeAll(async () => {
      tokenizer = await loadTokenizer(await gpt2WithAddedToken());
    });

    it('encodes and decodes as GPT-2 does, and parses its added token', () => {
      expect(tokenizer.kind).toBe('BPE');
      const text = 'Héllo wörld 👍 日本語 <|endoftext|>!';
      expect(tokenizer.encode(text)).toEqual(gpt2.encodeWithSpecialTokens(text));
      expect(tokenizer.decode(gpt2.encode(text))).toBe(text);
      expect(tokenizer.encode('a<|pad|>b')).toEqual([64, 50257, 65]);
    });

    it("gives every token GPT-2's bytes and OpenAI-style text (bytes:\\xNN for part of a character)", () => {
      const rng = createRng(11);
      for (let i = 0; i < 2000; i++) {
        const id = rng.nextUint32() % GPT2_VOCAB_SIZE;
        expect(Buffer.from(tokenizer.tokenBytes(id)).equals(Buffer.from(gpt2.tokenBytes(id)))).toBe(true);
        expect(tokenizer.tokenText(id)).toBe(gpt2.tokenText(id));
      }
    });

    it('streams deltas that never split a character and add up to the whole decode', () => {
      const ids = gpt2.encode('ok 👍 done, 日本語のテキスト 👨‍👩‍👧‍👦');
      const deltas = stream(tokenizer, ids);
      expect(deltas.join('')).toBe(tokenizer.decode(ids));
      expect(deltas.some(splitsCharacter)).toBe(false);
    });
  });

  describe('a byte-fallback BPE (SentencePiece style)', () => {
    let tokenizer: Tokenizer;
    beforeAll(async () => {
      const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
      for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
      Object.assign(vocab, { '▁': 259, h: 260, i: 261, '▁h': 262, '▁hi': 263 });
      const json = {
        version: '1.0',
        added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
        post_processor: null,
        decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
        model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab, merges: ['▁ h', '▁h i'] },
      };
      const dir = await tokenizerFolder('byte-fallback', { 'tokenizer.json': json, 'tokenizer_config.json': { eos_token: '</s>' } }, { vocab_size: 264, bos_token_id: 1, eos_token_id: 2 });
      tokenizer = await loadTokenizer(dir);
    });

    it('holds the bytes of a character until it completes, and keeps the space the prompt context gives', () => {
      const ids = tokenizer.encode('hi 你 hi');
      expect(ids).toEqual([263, 259, 231, 192, 163, 263]);
      expect(stream(tokenizer, ids.slice(1), ids.slice(0, 1))).toEqual([' ', '', '', '你', ' hi', '']);
      expect(tokenizer.tokenBytes(231)).toEqual(Uint8Array.of(0xe4));
      expect(tokenizer.tokenText(231)).toBe('bytes:\\xe4');
      expect(tokenizer.eosTokenId).toBe(2);
    });
  });

  describe('a Chinese WordPiece vocabulary (BERT format)', () => {
    let tokenizer: Tokenizer;
    beforeAll(async () => {
      tokenizer = await loadTokenizer(await tinyVariantDir('tiny-wordpiece-zh', { tokenizer: 'wordpiece-zh' }));
    });

    it('encodes one token per character without [CLS]/[SEP], and the ids round-trip through its spaced decode', () => {
      const text = '你好，世界。今天天气很好！';
      const ids = tokenizer.encode(text);
      expect(ids).toHaveLength([...text].length);
      expect(ids).not.toContain(2);
      expect(ids).not.toContain(3);
      const decoded = tokenizer.decode(ids);
      // BERT's WordPiece decoder joins tokens with spaces, as transformers' decode does for these models.
      expect(decoded.replaceAll(' ', '')).toBe(text);
      expect(tokenizer.encode(decoded)).toEqual(ids);
      expect(ids.map((id) => tokenizer.tokenText(id)).join('')).toBe(text);
    });

    it('streams whole characters whose concatenation is the decode of prompt and completion minus the prompt', () => {
      const prompt = tokenizer.encode('从前');
      const completion = tokenizer.encode('有一座山，山里有座庙');
      const deltas = stream(tokenizer, completion, prompt);
      expect(deltas.some(splitsCharacter)).toBe(false);
      expect(deltas.join('')).toBe(tokenizer.decode([...prompt, ...completion]).slice(tokenizer.decode(prompt).length));
    });
  });

  it("takes the tokenizer's eos or sep token when config.json's eos_token_id is outside the vocabulary", async () => {
    // uer/gpt2-chinese-* keep GPT-2's eos_token_id 50256 beside their 21,128-token BERT vocabulary.
    const zh = await tinyVariantDir('tiny-wordpiece-zh', { tokenizer: 'wordpiece-zh' });
    const dir = join(scratch, 'zh-eos');
    await cp(zh, dir, { recursive: true });
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, eos_token_id: 50256, bos_token_id: 50256 }));
    expect((await loadTokenizer(dir)).eosTokenId).toBe(3);
  });

  it('refuses a tokenizer with more ids than the model has logits, and a folder without tokenizer.json', async () => {
    const json = JSON.parse(await readFile(join(tiny, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    const small = await tokenizerFolder('too-many-ids', { 'tokenizer.json': { ...json, added_tokens: [] } }, { vocab_size: 1000 });
    await expect(loadTokenizer(small)).rejects.toThrow(
      new ModelLoadError(`MODEL_DIR=${small}: tokenizer.json has token ids up to 50256 but config.json says vocab_size=1000 (the width of the logits); the tokenizer does not belong to this model`),
    );
    const none = await tokenizerFolder('no-tokenizer', {});
    await expect(loadTokenizer(none)).rejects.toThrow(`MODEL_DIR=${none} has no tokenizer.json`);
  });

  it('reads the chat template from chat_template.jinja, else tokenizer_config.json (its default when named)', async () => {
    const json = await readFile(join(tiny, 'tokenizer.json'), 'utf8');
    const named = await tokenizerFolder('named-templates', {
      'tokenizer.json': json,
      'tokenizer_config.json': { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] },
    });
    expect((await loadTokenizer(named)).chatTemplate).toBe('D');
    const file = await tokenizerFolder('template-file', { 'tokenizer.json': json, 'tokenizer_config.json': { chat_template: 'C' }, 'chat_template.jinja': 'J' });
    expect((await loadTokenizer(file)).chatTemplate).toBe('J');
  });
});
