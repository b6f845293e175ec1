import { CONTEXT_TOKENS, IncrementalDecoder, WindowDecoder } from '../../../service/engine/incremental-decoder';
import { createRng } from '../../../service/engine/rng';
import { createGpt2Tokenizer, decodeTokens, GPT2_VOCAB_SIZE } from '../../../service/engine/tokenizer';

const tokenizer = createGpt2Tokenizer();

/** True when `text` ends in the middle of a surrogate pair. */
const endsMidCharacter = (text: string): boolean => /[\ud800-\udbff]$/.test(text);

describe('IncrementalDecoder', () => {
  it('holds back the bytes of a character split across tokens until it completes', () => {
    // GPT-2 splits ' 👍' into ' \xf0\x9f\x91' and '\x8d'.
    const ids = tokenizer.encode('ok 👍 done');
    const decoder = tokenizer.createDecoder();
    const deltas = ids.map((id) => decoder.push(id));
    expect(deltas).toEqual(['ok', ' ', '👍', ' done']);
    expect(deltas.join('') + decoder.flush()).toBe('ok 👍 done');
    expect(deltas.some((d) => d.includes('\ufffd'))).toBe(false);
    // The emoji arrives whole in one delta, never as halves.
    expect(deltas.filter((d) => d.includes('👍'))).toHaveLength(1);
  });

  it('streams multilingual text in whole characters that add up to the full decode', () => {
    const text = '日本語のテキスト, 👨‍👩‍👧‍👦 family, e\u0301, שלום, Ελληνικά';
    const decoder = tokenizer.createDecoder();
    const deltas = tokenizer.encode(text).map((id) => decoder.push(id));
    expect(deltas.every((d) => !d.includes('\ufffd') && !endsMidCharacter(d))).toBe(true);
    expect(deltas.join('') + decoder.flush()).toBe(text);
  });

  it('matches a whole-sequence decode on random token sequences, including invalid UTF-8', () => {
    const rng = createRng(3);
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 1 + (rng.nextUint32() % 40) }, () => rng.nextUint32() % GPT2_VOCAB_SIZE);
      const decoder = tokenizer.createDecoder();
      const streamed = ids.map((id) => decoder.push(id)).join('') + decoder.flush();
      expect(streamed).toBe(decodeTokens(ids));
    }
  });

  it('flushes an unfinished character as U+FFFD and can start a new sequence', () => {
    const [first] = tokenizer.encode('👍');
    const decoder = tokenizer.createDecoder();
    expect(decoder.push(first!)).toBe('');
    expect(decoder.flush()).toBe('\ufffd');
    expect(decoder.push(tokenizer.encode('hi')[0]!)).toBe('hi');
  });

  it('decodes with any byte table it is given', () => {
    const table = [Uint8Array.of(0xe2, 0x82), Uint8Array.of(0xac), Uint8Array.of(0x41)];
    const decoder = new IncrementalDecoder((id) => table[id]!);
    expect([0, 1, 2].map((id) => decoder.push(id))).toEqual(['', '€', 'A']);
  });
});

describe('WindowDecoder', () => {
  // A decoder that joins words with spaces (as WordPiece does) and shows an unfinished word as U+FFFD.
  const words = ['alpha', 'beta', 'gam', 'ma', 'delta'];
  const decode = (ids: readonly number[]) =>
    ids
      .map((id) => words[id]!)
      .join(' ')
      .replace(/gam$/, '\ufffd')
      .replace('gam ma', 'gamma');

  it('emits what each token adds to its context, holding an unfinished piece, and adds up to the whole decode', () => {
    const decoder = new WindowDecoder(decode, [0]);
    const deltas = [1, 2, 3, 4].map((id) => decoder.push(id));
    expect(deltas).toEqual([' beta', '', ' gamma', ' delta']);
    expect(deltas.join('') + decoder.flush()).toBe(decode([0, 1, 2, 3, 4]).slice('alpha'.length));
  });

  it(`keeps only the last ${CONTEXT_TOKENS} prompt tokens as context, and flushes what is held`, () => {
    const seen: number[][] = [];
    const decoder = new WindowDecoder((ids) => {
      seen.push([...ids]);
      return decode(ids);
    }, [0, 1, 0, 1, 0, 1, 0]);
    expect(decoder.push(2)).toBe('');
    expect(Math.max(...seen.map((ids) => ids.length))).toBe(CONTEXT_TOKENS + 1);
    expect(decoder.flush()).toBe(' \ufffd');
  });
});
