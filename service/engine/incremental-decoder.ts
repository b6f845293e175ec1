// Turns the token ids of one sequence, as they arrive, into text deltas that are always whole
// characters: bytes of a character split across tokens (emoji, CJK) are held until it completes.
import { tokenBytes as gpt2TokenBytes } from './tokenizer';

export class IncrementalDecoder {
  // TextDecoder's stream mode keeps an incomplete UTF-8 sequence for the next call, which is
  // exactly the hold-back we need; invalid bytes become U+FFFD as in a whole-sequence decode.
  private readonly decoder = new TextDecoder('utf-8');

  /** @param tokenBytes a token's raw bytes (GPT-2's by default). */
  constructor(private readonly tokenBytes: (id: number) => Uint8Array = gpt2TokenBytes) {}

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
