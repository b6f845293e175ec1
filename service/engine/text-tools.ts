// TEMPORARY stand-in until the tokenizer/decoder/stop matcher modules land.
import type { StopFilter, TextTools, TokenTextDecoder } from './choice-output';
import { decodeTokens as decode, tokenText } from './tokenizer';

export function createTextTools(): TextTools {
  return {
    tokenText,
    createDecoder(): TokenTextDecoder {
      const ids: number[] = [];
      let emitted = '';
      return {
        push(id) {
          ids.push(id);
          const s = decode(ids);
          if (s.endsWith('\ufffd')) return '';
          const d = s.slice(emitted.length);
          emitted = s;
          return d;
        },
        flush() {
          const s = decode(ids);
          const d = s.slice(emitted.length);
          emitted = s;
          return d;
        },
      };
    },
    createStopFilter(stop): StopFilter {
      let held = '';
      let done = false;
      return {
        push(text) {
          if (done) return { text: '', stopped: true };
          held += text;
          let cut = -1;
          for (const s of stop) {
            const i = held.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
          }
          if (cut >= 0) {
            done = true;
            return { text: held.slice(0, cut), stopped: true };
          }
          let keep = 0;
          for (const s of stop) for (let k = Math.min(s.length - 1, held.length); k > keep; k--) if (held.endsWith(s.slice(0, k))) keep = k;
          const out = held.slice(0, held.length - keep);
          held = held.slice(held.length - keep);
          return { text: out, stopped: false };
        },
        flush() {
          const out = held;
          held = '';
          return out;
        },
      };
    },
  };
}
