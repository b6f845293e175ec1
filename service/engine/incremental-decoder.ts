// Turns the token ids of one sequence, as they arrive, into text deltas that are always whole
// characters. Two ways: from each token's raw bytes (GPT-2's byte-level BPE, exact and cheap), or,
// for any other tokenizer, by decoding a short window of recent tokens (the method of vLLM's and
// TGI's detokenizers), which also gets the spaces a WordPiece or Metaspace decoder puts between tokens.
import type { StreamDecoder } from './types';

export class IncrementalDecoder implements StreamDecoder {
  // TextDecoder's stream mode keeps an incomplete UTF-8 sequence for the next call, which is
  // exactly the hold-back we need; invalid bytes become U+FFFD as in a whole-sequence decode.
  private readonly decoder = new TextDecoder('utf-8');

  /** @param tokenBytes a token's raw bytes. */
  constructor(private readonly tokenBytes: (id: number) => Uint8Array) {}

  /** Adds the next token and returns the text it completes (often all of it, sometimes ''). */
  push(tokenId: number): string {
    return this.decoder.decode(this.tokenBytes(tokenId), { stream: true });
  }

  /**
   * Ends the sequence: returns what is still held back, with U+FFFD for a character the sequence
   * never completed. The decoder can then be reused for a new sequence.
   */
  flush(): string {
    return this.decoder.decode();
  }
}

const REPLACEMENT = '\uFFFD';

/** Prompt tokens kept as context (vLLM keeps 5): enough for any decoder's joining rule to see its neighbour. */
export const CONTEXT_TOKENS = 5;

/**
 * Keeps a window: context tokens (already emitted, or the end of the prompt) followed by tokens not
 * emitted yet. After each token it decodes the window and emits what the new tokens add to the
 * context's text, so that the decoder's joining rules apply across the boundary (WordPiece's
 * spaces, Metaspace's leading space). A window ending in U+FFFD is an incomplete character
 * (byte-fallback tokens) and is held back.
 */
export class WindowDecoder implements StreamDecoder {
  private window: number[];
  /** How many of the window's first tokens are context. */
  private context: number;

  /** @param prompt the prompt's ids; its last CONTEXT_TOKENS are the first context, never emitted. */
  constructor(
    private readonly decode: (ids: readonly number[]) => string,
    prompt: readonly number[] = [],
  ) {
    this.window = prompt.slice(-CONTEXT_TOKENS);
    this.context = this.window.length;
  }

  push(tokenId: number): string {
    this.window.push(tokenId);
    const before = this.decode(this.window.slice(0, this.context));
    const after = this.decode(this.window);
    if (after.length <= before.length || after.endsWith(REPLACEMENT)) return '';
    // The tokens just emitted are the next window's context; older ones are no longer needed.
    this.window = this.window.slice(this.context);
    this.context = this.window.length;
    return after.slice(before.length);
  }

  flush(): string {
    const rest = this.decode(this.window).slice(this.decode(this.window.slice(0, this.context)).length);
    this.window = [];
    this.context = 0;
    return rest;
  }
}
