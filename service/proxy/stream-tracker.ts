// Follows an upstream stream event by event, per protocol: what to relay (the upstream's own bytes;
// only the usage chunk the proxy asked for on the client's behalf is dropped), whether the stream is
// complete, the usage and the text relayed so far, and the event that ends a stream that broke off
// (`data: {"error":...}` for chat and completions, an `error` event for Responses).
// Chat and completions streams end with `data: [DONE]`; Responses streams with a terminal event.
import type { ApiError } from '../http/api-error';
import type { Protocol } from './endpoints';
import { choiceTexts, type Usage, usageOf } from './payloads';
import type { ServerSentEvent } from './sse-reader';
import { InvalidUpstreamResponse, redact, UpstreamStreamError } from './upstream-errors';

export interface StreamTracker {
  /** The text to relay for one upstream block, or undefined to drop it; throws UpstreamStreamError for an error event. */
  accept(block: ServerSentEvent): string | undefined;
  /** A data event arrived: the stream has begun. */
  readonly started: boolean;
  /** The upstream ended the answer properly (`[DONE]`, a terminal event, or every choice finished). */
  readonly complete: boolean;
  readonly usage: Usage | undefined;
  /** Characters of generated text relayed so far. */
  readonly relayedCharacters: number;
  /** The generated text, when collected (LOG_CONTENT). */
  readonly texts: readonly string[];
  /** The last event of a stream that broke off, in the protocol's own error shape. */
  interruptionFrame(error: ApiError): string;
  /** Written after a complete stream the upstream did not end with `[DONE]`, for clients that wait for it. */
  closingFrame(): string | undefined;
}

export interface TrackerOptions {
  /** The client asked for the usage chunk; otherwise the one the proxy asked for is dropped. */
  readonly wantsUsage: boolean;
  readonly secrets: readonly string[];
  readonly collectText: boolean;
}

const DONE = '[DONE]';
const TERMINAL_RESPONSE_EVENTS: ReadonlySet<string> = new Set(['response.completed', 'response.incomplete', 'response.failed']);

type Json = Record<string, unknown>;

function parseEvent(data: string): Json {
  const value: unknown = JSON.parse(data);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidUpstreamResponse('a stream event is not a JSON object');
  return value as Json;
}

function upstreamErrorMessage(value: Json, secrets: readonly string[]): string {
  const inner = value.error;
  const message = typeof value.message === 'string' ? value.message : typeof inner === 'object' && inner !== null ? (inner as Json).message : undefined;
  return redact(typeof message === 'string' ? message : 'the upstream sent an error event', secrets);
}

/** `chat.completion.chunk` and `text_completion` streams. */
class ChoiceStreamTracker implements StreamTracker {
  started = false;
  usage: Usage | undefined;
  relayedCharacters = 0;
  readonly texts: string[] = [];
  private done = false;
  private readonly seen = new Set<number>();
  private readonly finished = new Set<number>();
  private readonly pieces: string[] = [];

  constructor(
    private readonly protocol: Protocol,
    private readonly options: TrackerOptions,
  ) {}

  get complete(): boolean {
    if (this.done) return true;
    if (this.finished.size === 0) return false;
    for (const index of this.seen) if (!this.finished.has(index)) return false;
    return true;
  }

  accept(block: ServerSentEvent): string | undefined {
    // After [DONE] the stream is read to its end (so the connection can be reused), not relayed.
    if (this.done) return undefined;
    if (block.data === undefined) return block.raw;
    if (block.data === DONE) {
      this.done = true;
      return block.raw;
    }
    const chunk = parseEvent(block.data);
    if (block.event === 'error' || (chunk.error !== undefined && chunk.error !== null)) {
      throw new UpstreamStreamError(upstreamErrorMessage(chunk, this.options.secrets));
    }
    this.started = true;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as unknown[]) : [];
    for (const choice of choices) {
      if (typeof choice !== 'object' || choice === null) continue;
      const { index, finish_reason: finishReason } = choice as { index?: unknown; finish_reason?: unknown };
      const position = typeof index === 'number' ? index : 0;
      this.seen.add(position);
      if (finishReason !== null && finishReason !== undefined) this.finished.add(position);
    }
    this.pieces.length = 0;
    choiceTexts(chunk, this.pieces);
    for (const piece of this.pieces) this.relayedCharacters += piece.length;
    if (this.options.collectText) this.texts.push(...this.pieces);
    const usage = usageOf(this.protocol, chunk.usage);
    if (usage !== undefined) {
      this.usage = usage;
      if (!this.options.wantsUsage && choices.length === 0) return undefined;
    }
    return block.raw;
  }

  interruptionFrame(error: ApiError): string {
    return `data: ${JSON.stringify(error.toEnvelope())}\n\n`;
  }

  closingFrame(): string | undefined {
    return this.done ? undefined : `data: ${DONE}\n\n`;
  }
}

/** The Responses API's typed events (`event: response.output_text.delta`, ...), usage in the terminal event. */
class ResponsesStreamTracker implements StreamTracker {
  started = false;
  complete = false;
  usage: Usage | undefined;
  relayedCharacters = 0;
  readonly texts: string[] = [];
  private sequence = -1;

  constructor(private readonly options: TrackerOptions) {}

  accept(block: ServerSentEvent): string | undefined {
    if (block.data === undefined || block.data === DONE) return block.raw;
    const event = parseEvent(block.data);
    const type = typeof event.type === 'string' ? event.type : block.event;
    if (type === 'error' || (event.error !== undefined && event.error !== null)) {
      throw new UpstreamStreamError(upstreamErrorMessage(event, this.options.secrets));
    }
    this.started = true;
    if (typeof event.sequence_number === 'number') this.sequence = event.sequence_number;
    if (type.endsWith('.delta') && typeof event.delta === 'string') {
      this.relayedCharacters += event.delta.length;
      if (this.options.collectText && type === 'response.output_text.delta') this.texts.push(event.delta);
    }
    if (TERMINAL_RESPONSE_EVENTS.has(type)) {
      this.complete = true;
      const response = event.response;
      this.usage = usageOf('responses', typeof response === 'object' && response !== null ? (response as Json).usage : undefined) ?? this.usage;
    }
    return block.raw;
  }

  interruptionFrame(error: ApiError): string {
    const event = { type: 'error', code: error.code, message: error.message, param: null, sequence_number: this.sequence + 1 };
    return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
  }

  closingFrame(): undefined {
    return undefined;
  }
}

export function createStreamTracker(protocol: Protocol, options: TrackerOptions): StreamTracker {
  return protocol === 'responses' ? new ResponsesStreamTracker(options) : new ChoiceStreamTracker(protocol, options);
}
