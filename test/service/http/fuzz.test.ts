// Fuzz: 1,000 malformed or hostile requests against a real server; each must get a 4xx with
// OpenAI's error envelope, and the server must still answer a normal request afterwards.
import { request as httpRequest } from 'node:http';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';

/** mulberry32: a small deterministic PRNG so every run sends the same bodies. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Attack {
  readonly label: string;
  readonly path: string;
  readonly body: string | Buffer;
  readonly contentType?: string;
}

const random = prng(20261129);
const int = (max: number): number => Math.floor(random() * max);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

const deep = (depth: number, open: string, close: string, inner = '1'): string => open.repeat(depth) + inner + close.repeat(depth);

function randomJson(depth: number): string {
  const kind = depth > 4 ? int(4) : int(7);
  switch (kind) {
    case 0: return String((random() - 0.5) * 10 ** int(400));
    case 1: return JSON.stringify(String.fromCharCode(...Array.from({ length: int(20) }, () => int(0xd7ff))));
    case 2: return pick(['true', 'false', 'null']);
    case 3: return String(int(1000));
    case 4: return `[${Array.from({ length: int(4) }, () => randomJson(depth + 1)).join(',')}]`;
    default: return `{${Array.from({ length: int(4) }, () => `${JSON.stringify(pick(['model', 'prompt', 'messages', 'n', 'x', '']))}:${randomJson(depth + 1)}`).join(',')}}`;
  }
}

/** Values that are wrong for the named field, as raw JSON text. */
const INVALID: Readonly<Record<string, readonly string[]>> = {
  model: ['5', '[]', '{}', '""', 'true', 'null'],
  prompt: ['5', '{}', '[]', '[[]]', '[-1]', '[1.5]', 'true', 'null', '[1e400]', deep(5000, '[', ']'), '[{"a":1}]'],
  max_tokens: ['0', '-5', '1.5', '"10"', '1e400', '9007199254740993', 'true', '[]'],
  temperature: ['-1', '2.5', '"hot"', '[]', '1e400', '-1e400', '{}'],
  top_p: ['0', '1.5', '"1"', 'false'],
  n: ['0', '129', '2.5', '"2"', '1e308'],
  stop: ['["a","b","c","d","e"]', '7', '[1]', '{}', '[null]'],
  logit_bias: ['{"abc":1}', '{"1":101}', '{"1":"x"}', '[]', '{"-1":1}'],
  seed: ['1.5', '1e20', '"seed"', '{}'],
  stream: ['"yes"', '1', '[]'],
  logprobs: ['21', '-1', '"5"', '1.5'],
  top_k: ['-1', '0.5', '"k"'],
  stream_options: ['1', '"x"', '{"include_usage":"yes"}'],
};
const CHAT_INVALID_MESSAGES = ['[]', '[{}]', '[{"role":"bot","content":"x"}]', '[{"role":"user","content":5}]', '"hi"', 'null', '[{"role":"user","content":[{"type":"image","url":"x"}]}]', deep(3000, '[', ']', '{"role":"user","content":"x"}'), '[{"role":"user"}]', '[{"role":["user"],"content":"x"}]'];

/** A null-prototype object, so that a field named "__proto__" is an own key like any other. */
function validFields(chat: boolean): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, chat ? { model: JSON.stringify(FAKE_MODEL), messages: '[{"role":"user","content":"hi"}]' } : { model: JSON.stringify(FAKE_MODEL), prompt: '"hi"' });
}

function objectText(fields: Record<string, string>): string {
  return `{${Object.entries(fields).map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}

/** A valid request with exactly one field made invalid, plus random ignored extras. */
function wrongField(): Attack {
  const chat = random() < 0.4;
  // The legacy route takes the model from its path, so only other fields can be wrong there.
  const path = chat ? '/v1/chat/completions' : pick(['/v1/completions', `/v1/engines/${FAKE_MODEL}/completions`]);
  const legacy = path.startsWith('/v1/engines/');
  const fields = validFields(chat);
  const extras = int(3);
  for (let index = 0; index < extras; index += 1) fields[`extra_${index}`] = randomJson(0);
  if (chat && random() < 0.4) {
    fields.messages = pick(CHAT_INVALID_MESSAGES);
  } else {
    const names = Object.keys(INVALID).filter((name) => !(chat && (name === 'prompt' || name === 'logprobs')) && !(legacy && name === 'model'));
    const name = pick(names);
    fields[name] = pick(INVALID[name] ?? []);
  }
  return { label: 'wrong field', path, body: objectText(fields) };
}

function malformedText(): Attack {
  const valid = objectText(validFields(false));
  const variants = [
    () => valid.slice(0, 1 + int(valid.length - 2)),
    () => `${valid}${pick(['}', ']', ',', 'x', '{'])}`,
    () => Array.from({ length: 1 + int(200) }, () => String.fromCharCode(32 + int(95))).join(''),
    () => deep(1 + int(50_000), '[', ''),
    () => deep(1 + int(50_000), '{"a":', ''),
    () => valid.replace(':', pick(['', '::', '=', ' : : '])),
    () => `{'model': 'fake-model', 'prompt': 'hi'}`,
    () => `{"model":"fake-model","prompt":"${'\\u'}${pick(['zz', 'd8', '12'])}"}`,
    () => pick(['NaN', 'undefined', 'Infinity', '-', '+1', '0x10', '{"a":01}', '"\\x41"']),
  ];
  return { label: 'malformed JSON', path: pick(['/v1/completions', '/v1/chat/completions', '/tokenize']), body: pick(variants)() };
}

function invalidUtf8(): Attack {
  const valid = Buffer.from(objectText(validFields(random() < 0.5)));
  const at = 1 + int(valid.length - 2);
  const bad = pick([[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0x80]]);
  return { label: 'invalid UTF-8', path: '/v1/completions', body: Buffer.concat([valid.subarray(0, at), Buffer.from(bad), valid.subarray(at)]) };
}

function prototypePollution(): Attack {
  const key = pick(['__proto__', 'constructor']);
  const payload = key === '__proto__' ? '{"polluted":true}' : '{"prototype":{"polluted":true}}';
  const fields = validFields(false);
  const where = int(3);
  if (where === 0) fields[key] = payload;
  else if (where === 1) fields.extra = `{"a":{${JSON.stringify(key)}:${payload}}}`;
  else fields.logit_bias = `{${JSON.stringify(key)}:${payload}}`;
  return { label: 'prototype pollution', path: pick(['/v1/completions', '/tokenize', '/detokenize']), body: objectText(fields) };
}

function wrongTopLevel(): Attack {
  return { label: 'not an object', path: pick(['/v1/completions', '/v1/chat/completions', '/detokenize']), body: pick(['[]', '1', '"s"', 'null', 'true', `[${objectText(validFields(false))}]`, randomJson(5)]) };
}

function wrongContentType(): Attack {
  return {
    label: 'content type',
    path: '/v1/completions',
    body: objectText(validFields(false)),
    contentType: pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', 'image/png']),
  };
}

function unknownPath(): Attack {
  return {
    label: 'unknown path',
    path: pick(['/v1/complete', '/v2/completions', '/v1/models/../../etc/passwd', `/v1/${'a'.repeat(int(3000))}`, '/v1/chat/completions/extra', '/%2e%2e/%2e%2e', '/v1/engines/x/y/completions', '/v1/%zz', '/v1/engines/%ff/completions', '/v1/models/%E0%A4%A']),
    body: '{}',
  };
}

const generators = [wrongField, wrongField, wrongField, malformedText, malformedText, invalidUtf8, prototypePollution, wrongTopLevel, wrongContentType, unknownPath];
const ATTACKS: Attack[] = Array.from({ length: 1000 }, () => pick(generators)());

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(createFakeBackend());
});
afterAll(async () => {
  await server.close();
});

interface Answer {
  readonly status: number;
  readonly body: string;
}

function send(attack: Attack): Promise<Answer> {
  const url = new URL(attack.path, server.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': attack.contentType ?? 'application/json', 'content-length': Buffer.byteLength(attack.body) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    // The server may answer (413, 401) and close before a large upload is written: the answer
    // still arrives, so a write error alone is not a failure.
    request.on('error', reject);
    request.end(attack.body);
  });
}

function expectEnvelope(answer: Answer, attack: Attack): void {
  const context = `${attack.label} ${attack.path} ${String(attack.body).slice(0, 120)}`;
  if (answer.status < 400 || answer.status > 499) throw new Error(`status ${answer.status} for ${context}: ${answer.body.slice(0, 200)}`);
  const parsed = JSON.parse(answer.body) as { error?: { message?: unknown; type?: unknown; code?: unknown; param?: unknown } };
  if (typeof parsed.error?.message !== 'string' || typeof parsed.error.type !== 'string' || typeof parsed.error.code !== 'string' || !('param' in parsed.error)) {
    throw new Error(`no error envelope for ${context}: ${answer.body.slice(0, 200)}`);
  }
}

it('answers 1,000 malformed and hostile bodies with a 4xx envelope, then serves normally', async () => {
  const statuses = new Map<number, number>();
  const queue = [...ATTACKS];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let attack = queue.shift(); attack !== undefined; attack = queue.shift()) {
        const answer = await send(attack);
        expectEnvelope(answer, attack);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      }
    }),
  );
  // Every class of rejection was exercised.
  expect([...statuses.keys()].sort()).toEqual([400, 404, 415]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  const normal = await send({ label: 'normal', path: '/v1/completions', body: objectText(validFields(false)) });
  expect(normal.status).toBe(200);
  expect(JSON.parse(normal.body)).toMatchObject({ choices: [{ text: 'echo:hi' }] });
});

it('answers a 10 MB body with 413 and keeps serving', async () => {
  const body = `{"model":"fake-model","prompt":"${'a'.repeat(10 * 1024 * 1024)}"}`;
  const answer = await send({ label: '10 MB', path: '/v1/completions', body });
  expect(answer.status).toBe(413);
  expectEnvelope(answer, { label: '10 MB', path: '/v1/completions', body: '' });
  const chunked = await new Promise<number>((resolve, reject) => {
    // Without Content-Length (chunked upload) the limit is enforced while reading.
    const request = httpRequest(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    for (let index = 0; index < 10; index += 1) request.write('a'.repeat(1024 * 1024));
    request.end();
  });
  expect(chunked).toBe(413);
  const normal = await send({ label: 'normal', path: '/v1/completions', body: objectText(validFields(false)) });
  expect(normal.status).toBe(200);
});
