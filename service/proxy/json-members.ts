// Where each top-level member of a JSON object sits in its text, and edits by position: the proxy
// changes one member's value (model, stream_options) and sends every other byte as the client wrote
// it: key order, spacing, number spellings (1.0, 1e3, integers past 2^53) and escapes included.

export interface MemberSpan {
  /** The decoded key. */
  readonly key: string;
  /** Offsets of the value's first character and one past its last. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

export interface MemberEdit {
  readonly key: string;
  /** The new value as JSON text. */
  readonly json: string;
}

const QUOTE = 34;
const BACKSLASH = 92;

function isSpace(code: number): boolean {
  return code === 32 || code === 10 || code === 13 || code === 9;
}

function skipSpace(text: string, at: number): number {
  let position = at;
  while (position < text.length && isSpace(text.charCodeAt(position))) position += 1;
  return position;
}

/** `at` is an opening quote; returns the offset after the closing quote. */
function skipString(text: string, at: number): number {
  let position = at + 1;
  while (position < text.length) {
    const code = text.charCodeAt(position);
    if (code === BACKSLASH) position += 2;
    else if (code === QUOTE) return position + 1;
    else position += 1;
  }
  throw new SyntaxError('unterminated string in JSON text');
}

/** Returns the offset after the value that starts at `at` (strings, containers, literals, numbers). */
function skipValue(text: string, at: number): number {
  const code = text.charCodeAt(at);
  if (code === QUOTE) return skipString(text, at);
  if (code !== 123 && code !== 91) {
    let position = at;
    // A literal or a number ends at the next delimiter.
    while (position < text.length) {
      const next = text.charCodeAt(position);
      if (next === 44 || next === 125 || next === 93 || isSpace(next)) break;
      position += 1;
    }
    return position;
  }
  let depth = 0;
  let position = at;
  while (position < text.length) {
    const next = text.charCodeAt(position);
    if (next === QUOTE) {
      position = skipString(text, position);
      continue;
    }
    if (next === 123 || next === 91) depth += 1;
    else if (next === 125 || next === 93) {
      depth -= 1;
      if (depth === 0) return position + 1;
    }
    position += 1;
  }
  throw new SyntaxError('unterminated container in JSON text');
}

/**
 * The top-level members of `text`, which must be a JSON object already accepted by JSON.parse
 * (the scan relies on that and checks no more than it needs to find its way).
 */
export function topLevelMembers(text: string): MemberSpan[] {
  const members: MemberSpan[] = [];
  let position = skipSpace(text, 0);
  if (text.charCodeAt(position) !== 123) throw new SyntaxError('expected a JSON object');
  position = skipSpace(text, position + 1);
  if (text.charCodeAt(position) === 125) return members;
  for (;;) {
    const keyEnd = skipString(text, position);
    const rawKey = text.slice(position + 1, keyEnd - 1);
    const key = rawKey.includes('\\') ? (JSON.parse(text.slice(position, keyEnd)) as string) : rawKey;
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, valueStart, valueEnd });
    position = skipSpace(text, valueEnd);
    if (text.charCodeAt(position) === 125) return members;
    position = skipSpace(text, position + 1);
  }
}

/** The offset of the object's closing brace. */
function closingBrace(text: string): number {
  let position = text.length - 1;
  while (position >= 0 && isSpace(text.charCodeAt(position))) position -= 1;
  return position;
}

/**
 * Sets each edited member's value: every occurrence of the key is replaced in place (so a duplicate
 * key cannot smuggle a different value past the proxy), and a key that is absent is appended last.
 */
export function editMembers(text: string, members: readonly MemberSpan[], edits: readonly MemberEdit[]): string {
  const replacements: { start: number; end: number; json: string }[] = [];
  const appended: string[] = [];
  for (const edit of edits) {
    const spans = members.filter((member) => member.key === edit.key);
    if (spans.length === 0) appended.push(`${JSON.stringify(edit.key)}:${edit.json}`);
    for (const span of spans) replacements.push({ start: span.valueStart, end: span.valueEnd, json: edit.json });
  }
  replacements.sort((a, b) => a.start - b.start);
  let result = '';
  let cursor = 0;
  for (const replacement of replacements) {
    result += text.slice(cursor, replacement.start) + replacement.json;
    cursor = replacement.end;
  }
  if (appended.length === 0) return result + text.slice(cursor);
  const brace = closingBrace(text);
  const separator = members.length > 0 ? ',' : '';
  return `${result}${text.slice(cursor, brace)}${separator}${appended.join(',')}${text.slice(brace)}`;
}
