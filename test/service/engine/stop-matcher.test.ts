import { createRng } from '../../../service/engine/rng';
import { StopMatcher } from '../../../service/engine/stop-matcher';

interface Outcome {
  emitted: string;
  stop: string | undefined;
}

/** Streams `deltas` through a matcher the way the scheduler does, flushing when no stop hit. */
function stream(stops: readonly string[], deltas: readonly string[]): Outcome {
  const matcher = new StopMatcher(stops);
  let emitted = '';
  for (const delta of deltas) {
    const result = matcher.push(delta);
    emitted += result.text;
    if (result.stop !== undefined) {
      // A plain check, not expect(): this runs thousands of times per test.
      if (matcher.stoppedBy !== result.stop) throw new Error(`stoppedBy ${matcher.stoppedBy} != ${result.stop}`);
      return { emitted, stop: result.stop };
    }
  }
  return { emitted: emitted + matcher.flush(), stop: undefined };
}

/** The definition on the whole text: cut at the stop occurrence that ends first (longest on a tie). */
function reference(stops: readonly string[], text: string): Outcome {
  let best: { start: number; end: number; stop: string } | undefined;
  for (const stop of stops) {
    const start = text.indexOf(stop);
    if (start < 0) continue;
    const end = start + stop.length;
    if (!best || end < best.end || (end === best.end && start < best.start)) best = { start, end, stop };
  }
  return best ? { emitted: text.slice(0, best.start), stop: best.stop } : { emitted: text, stop: undefined };
}

/** Every way to cut `text` into non-empty deltas (2^(n-1) of them; keep n small). */
function allSplits(text: string): string[][] {
  const chars = Array.from(text);
  const result: string[][] = [];
  for (let mask = 0; mask < 2 ** (chars.length - 1); mask++) {
    const parts: string[] = [];
    let current = chars[0]!;
    for (let i = 1; i < chars.length; i++) {
      if (mask & (1 << (i - 1))) {
        parts.push(current);
        current = chars[i]!;
      } else {
        current += chars[i]!;
      }
    }
    parts.push(current);
    result.push(parts);
  }
  return result;
}

describe('StopMatcher', () => {
  it('emits the text before a stop string split over three deltas and never the stop string', () => {
    expect(stream(['END'], ['The E', 'N', 'D of it'])).toEqual({ emitted: 'The ', stop: 'END' });
  });

  it('holds back a possible stop prefix and releases it when the stop does not follow', () => {
    const matcher = new StopMatcher(['END']);
    expect(matcher.push('The EN')).toEqual({ text: 'The ' });
    expect(matcher.push('Dless')).toEqual({ text: '', stop: 'END' });
    const other = new StopMatcher(['END']);
    expect(other.push('The EN')).toEqual({ text: 'The ' });
    expect(other.push('TRY')).toEqual({ text: 'ENTRY' });
  });

  it('finds "aab" in "aaab" however the text is split (overlapping prefixes)', () => {
    for (const deltas of allSplits('aaab')) {
      expect(stream(['aab'], deltas)).toEqual({ emitted: 'a', stop: 'aab' });
    }
  });

  it('releases held-back text on flush when generation ends without a stop', () => {
    const matcher = new StopMatcher(['\n\n']);
    expect(matcher.push('line\n')).toEqual({ text: 'line' });
    expect(matcher.flush()).toBe('\n');
    expect(matcher.stoppedBy).toBeUndefined();
  });

  it('ignores deltas after a stop', () => {
    const matcher = new StopMatcher(['x']);
    expect(matcher.push('ax')).toEqual({ text: 'a', stop: 'x' });
    expect(matcher.push('more')).toEqual({ text: '' });
    expect(matcher.flush()).toBe('');
  });

  it('passes text straight through when there are no stop strings', () => {
    const matcher = new StopMatcher([]);
    expect(matcher.push('abc')).toEqual({ text: 'abc' });
    expect(matcher.flush()).toBe('');
  });

  it('stops at the stop string that completes first, the same for every split', () => {
    const stops = ['abcd', 'bc', 'cde'];
    for (const deltas of allSplits('xabcde')) {
      expect(stream(stops, deltas)).toEqual({ emitted: 'xa', stop: 'bc' });
    }
  });

  it('prefers the longer stop string when two end at the same place', () => {
    expect(stream(['cd', 'bcd'], ['abcde'])).toEqual({ emitted: 'a', stop: 'bcd' });
  });

  it('matches unicode stop strings split between characters of any split', () => {
    const text = 'Hé 👨‍👩‍👧 日本語。次';
    const outcomes = new Set(allSplits(text).map((deltas) => JSON.stringify(stream(['👩‍👧 日', '。'], deltas))));
    expect([...outcomes]).toEqual([JSON.stringify({ emitted: 'Hé 👨‍', stop: '👩‍👧 日' })]);
  });

  it('agrees with the whole-text definition on random texts, stops and splits', () => {
    const rng = createRng(99);
    const alphabet = ['a', 'b', 'c', '\n', 'é', '🙂'];
    const pick = (n: number): string =>
      Array.from({ length: n }, () => alphabet[rng.nextUint32() % alphabet.length]!).join('');
    let mismatches = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const text = pick(1 + (rng.nextUint32() % 30));
      const stops = Array.from({ length: 1 + (rng.nextUint32() % 4) }, () => pick(1 + (rng.nextUint32() % 4)));
      const chars = Array.from(text);
      const deltas: string[] = [];
      for (let i = 0; i < chars.length; ) {
        const size = 1 + (rng.nextUint32() % 4);
        deltas.push(chars.slice(i, i + size).join(''));
        i += size;
      }
      const got = stream(stops, deltas);
      const want = reference(stops, text);
      if (got.emitted !== want.emitted || got.stop !== want.stop) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});
