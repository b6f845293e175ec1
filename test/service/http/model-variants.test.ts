/**
 * @jest-environment ./test/support/onnx-environment.js
 */
// Every layout and dtype model:make writes, served as the service serves it (the engine in its worker
// process, the tokenizer on the main thread) through the real HTTP app to the official `openai`
// client: a completion, a stream and a chat stream each; a Chinese WordPiece model (round trip, whole
// characters, a Chinese stop string); a model chat template against the default transcript. Also
// reports (does not assert) how often fp16 greedy decoding agrees with fp32.
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { WriteModelOptions } from '../../../scripts/gpt2-onnx/write-model-dir';
import type { Backend } from '../../../service/backend';
import { createEngine } from '../../../service/engine/engine';
import { createSamplingParams } from '../../../service/engine/params';
import type { Engine } from '../../../service/engine/types';
import { createWorkerEngine } from '../../../service/engine/worker/client';
import { createInferenceBackend } from '../../../service/inference/backend';
import type { ModelDtype } from '../../../service/models/footprint';
import { startTestServer, type TestServer } from '../../support/http-server';
import { tinyMergedModelDir, tinyModelDir, tinyVariantDir } from '../../support/models';

interface Served {
  readonly engine: Engine;
  readonly backend: Backend;
  readonly server: TestServer;
  readonly client: OpenAI;
  /** The service's `engine worker ready` log line: what the worker loaded. */
  readonly ready: Record<string, unknown>;
}

async function serve(modelDir: string, dtype: ModelDtype): Promise<Served> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const engine = await createWorkerEngine({ modelDir, dtype, intraOpThreads: 1, maxBatchSize: 4, logLevel: 'warn', log: pino({ level: 'info' }, sink) });
  const backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry: new Registry() });
  const server = await startTestServer(backend);
  const ready = lines.find((line) => line.msg === 'engine worker ready') ?? {};
  return { engine, backend, server, client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 }), ready };
}

async function stop(served: Served | undefined): Promise<void> {
  await served?.server.close();
  await served?.backend.close();
}

async function streamedText(stream: AsyncIterable<OpenAI.Completions.Completion>): Promise<{ text: string; deltas: string[] }> {
  const deltas: string[] = [];
  for await (const chunk of stream) deltas.push(chunk.choices[0]?.text ?? '');
  return { text: deltas.join(''), deltas };
}

const variant = (name: string, options: Omit<WriteModelOptions, 'preset' | 'seed'>) => () => tinyVariantDir(name, options);

describe.each([
  { name: 'fp32, onnx-community layout (onnx/model.onnx)', dir: () => tinyModelDir(), dtype: 'fp32', graph: 'onnx/model.onnx', kv: 'float32', logits: 'float32', cache: 'concat' },
  { name: "fp32, Xenova's merged layout (onnx/decoder_model_merged.onnx)", dir: () => tinyMergedModelDir(), dtype: 'fp32', graph: 'onnx/decoder_model_merged.onnx', kv: 'float32', logits: 'float32', cache: 'concat' },
  { name: 'fp16 with fp16 inputs and outputs', dir: variant('tiny-fp16', { precision: 'fp16' }), dtype: 'fp16', graph: 'onnx/model_fp16.onnx', kv: 'float16', logits: 'float16', cache: 'concat' },
  { name: 'fp16 with fp32 inputs and outputs (fp16-io32)', dir: variant('tiny-fp16-io32', { precision: 'fp16-io32' }), dtype: 'fp16', graph: 'onnx/model_fp16.onnx', kv: 'float32', logits: 'float32', cache: 'concat' },
  { name: 'fp32 with external data (onnx/model.onnx_data)', dir: variant('tiny-external', { externalData: true }), dtype: 'fp32', graph: 'onnx/model.onnx', kv: 'float32', logits: 'float32', cache: 'concat' },
  {
    name: 'fp16 merged layout with external data',
    dir: variant('tiny-merged-fp16-external', { layout: 'merged', precision: 'fp16', externalData: true }),
    dtype: 'fp16',
    graph: 'onnx/decoder_model_merged_fp16.onnx',
    kv: 'float16',
    logits: 'float16',
    cache: 'concat',
  },
  {
    name: 'fp32 preallocated-kv layout (the engine writes the cache in place)',
    dir: variant('tiny-preallocated-kv', { layout: 'preallocated-kv' }),
    dtype: 'fp32',
    graph: 'onnx/model.onnx',
    kv: 'float32',
    logits: 'float32',
    cache: 'preallocated',
  },
  {
    name: 'fp16 preallocated-kv layout',
    dir: variant('tiny-preallocated-kv-fp16', { layout: 'preallocated-kv', precision: 'fp16' }),
    dtype: 'fp16',
    graph: 'onnx/model_fp16.onnx',
    kv: 'float16',
    logits: 'float16',
    cache: 'preallocated',
  },
] as const)('$name', ({ dir, dtype, graph, kv, logits, cache }) => {
  let served: Served | undefined;
  beforeAll(async () => {
    served = await serve(await dir(), dtype);
  });
  afterAll(() => stop(served));

  it('loads the graph MODEL_DTYPE picks, keeps its input/output types and picks the cache strategy its signature asks for', () => {
    expect(String(served?.ready.onnxPath)).toMatch(new RegExp(`${graph.replace('.', '\\.')}$`));
    expect(served?.ready).toMatchObject({ kvDtype: kv, logitsDtype: logits, kvCache: { strategy: cache } });
  });

  it('serves a completion, and the same text streamed', async () => {
    const client = served!.client;
    const request = { model: 'gpt2', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 } as const;
    const whole = await client.completions.create(request);
    expect(whole.choices[0]?.finish_reason).toBe('length');
    expect(whole.usage?.completion_tokens).toBe(8);
    const streamed = await streamedText(await client.completions.create({ ...request, stream: true }));
    expect(streamed.deltas.length).toBeGreaterThan(1);
    expect(streamed.text).toBe(whole.choices[0]?.text);
  });

  it('streams a chat completion', async () => {
    const stream = await served!.client.chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0, stream: true });
    const finishes: (string | null)[] = [];
    for await (const chunk of stream) finishes.push(chunk.choices[0]?.finish_reason ?? null);
    expect(finishes.at(-1)).not.toBeNull();
  });
});

describe('fp16 against fp32', () => {
  it('reports how much of greedy decoding agrees (same seed, the fp16 graphs round the same weights)', async () => {
    const engines = {
      fp32: await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1 }),
      fp16: await createEngine({ modelDir: await tinyVariantDir('tiny-fp16', { precision: 'fp16' }), dtype: 'fp16', intraOpThreads: 1 }),
      'fp16-io32': await createEngine({ modelDir: await tinyVariantDir('tiny-fp16-io32', { precision: 'fp16-io32' }), dtype: 'fp16', intraOpThreads: 1 }),
    };
    const greedy = async (engine: Engine, prompt: string) => {
      const params = createSamplingParams({ maxTokens: 32, temperature: 0, stopOnEos: false }, { vocabSize: engine.tokenizer.vocabSize });
      const ids: number[] = [];
      for await (const event of engine.generate({ promptIds: engine.tokenizer.encode(prompt), params })) if (event.type === 'delta') ids.push(...event.tokens.map((t) => t.tokenId));
      return ids;
    };
    try {
      const prompts = ['Once upon a time', 'The capital of France is', 'def fibonacci(n):'];
      const report: string[] = [];
      for (const half of ['fp16', 'fp16-io32'] as const) {
        let agreeing = 0;
        let total = 0;
        for (const prompt of prompts) {
          const [full, rounded] = [await greedy(engines.fp32, prompt), await greedy(engines[half], prompt)];
          const firstDifference = full.findIndex((id, i) => id !== rounded[i]);
          agreeing += firstDifference < 0 ? full.length : firstDifference;
          total += full.length;
        }
        report.push(`${half} ${agreeing}/${total}`);
      }
      console.log(`fp16 vs fp32 greedy agreement (tokens before the first difference, tiny model, ${prompts.length} prompts x 32 tokens): ${report.join(', ')}`);
      expect(report).toHaveLength(2);
    } finally {
      await Promise.all(Object.values(engines).map((engine) => engine.close()));
    }
  });
});

describe('a Chinese WordPiece model', () => {
  let served: Served | undefined;
  beforeAll(async () => {
    served = await serve(await tinyVariantDir('tiny-wordpiece-zh', { tokenizer: 'wordpiece-zh' }), 'fp32');
  });
  afterAll(() => stop(served));

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${served!.server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    return response.json() as Promise<Record<string, unknown>>;
  };

  it('round-trips Chinese text through /tokenize and /detokenize (the decode spaces characters, as transformers does)', async () => {
    const text = '床前明月光，疑是地上霜。';
    const { tokens, count } = (await post('/tokenize', { model: 'gpt2', prompt: text })) as { tokens: number[]; count: number };
    expect(count).toBe([...text].length);
    const { prompt } = (await post('/detokenize', { model: 'gpt2', tokens })) as { prompt: string };
    expect(prompt.replaceAll(' ', '')).toBe(text);
    expect(((await post('/tokenize', { model: 'gpt2', prompt })) as { tokens: number[] }).tokens).toEqual(tokens);
  });

  it("reports the echoed prompt's logprob tokens in the model's own token texts", async () => {
    const prompt = '床前明月光';
    const { tokens: ids } = (await post('/tokenize', { model: 'gpt2', prompt })) as { tokens: number[] };
    const result = await served!.client.completions.create({ model: 'gpt2', prompt, max_tokens: 2, temperature: 0, echo: true, logprobs: 2 });
    const logprobs = result.choices[0]?.logprobs;
    // The prompt's logprobs are computed in the worker's prefill: each text is the WordPiece token's, not a GPT-2 piece.
    expect(logprobs?.tokens?.slice(0, ids.length)).toEqual([...prompt]);
    expect(logprobs?.tokens?.slice(0, ids.length)).toEqual(ids.map((id) => served!.engine.tokenizer.tokenText(id)));
    expect(logprobs?.token_logprobs?.[0]).toBeNull();
    expect(Object.keys(logprobs?.top_logprobs?.[1] ?? {}).length).toBeGreaterThan(0);
  });

  it('streams deltas of whole characters that add up to the completion', async () => {
    const request = { model: 'gpt2', prompt: '从前有座山', max_tokens: 16, temperature: 0 } as const;
    const whole = await served!.client.completions.create(request);
    const text = whole.choices[0]?.text ?? '';
    expect([...text.replaceAll(' ', '')].every((c) => /\p{Script=Han}|\p{P}|[A-Za-z0-9]/u.test(c))).toBe(true);
    const { deltas, text: streamed } = await streamedText(await served!.client.completions.create({ ...request, stream: true }));
    expect(streamed).toBe(text);
    expect(deltas.some((d) => d.includes('\ufffd') || /[\ud800-\udbff]$/.test(d))).toBe(false);
  });

  it('matches a Chinese stop string across tokens and does not emit it, streamed or not', async () => {
    const request = { model: 'gpt2', prompt: '从前有座山', max_tokens: 16, temperature: 0 } as const;
    const text = (await served!.client.completions.create(request)).choices[0]?.text ?? '';
    // Two characters from the middle of the completion, as the model's tokenizer writes them.
    const chars = text.trimStart().split(' ');
    const stopString = `${chars[4]} ${chars[5]}`;
    const before = text.slice(0, text.indexOf(stopString));
    const stopped = await served!.client.completions.create({ ...request, stop: [stopString] });
    expect(stopped.choices[0]).toMatchObject({ text: before, finish_reason: 'stop' });
    expect(stopped.choices[0]?.text).not.toContain(stopString);
    const { text: streamed } = await streamedText(await served!.client.completions.create({ ...request, stop: [stopString], stream: true }));
    expect(streamed).toBe(before);
    const single = await served!.client.completions.create({ ...request, stop: [chars[3]!] });
    expect(single.choices[0]?.text).toBe(text.slice(0, text.indexOf(chars[3]!)));
  });
});

describe("a model's chat template", () => {
  const TEMPLATE = '{% for message in messages %}{{ message.content }}{{ eos_token }}{% endfor %}';
  let templated: Served | undefined;
  let plain: Served | undefined;
  beforeAll(async () => {
    templated = await serve(await tinyVariantDir('tiny-chat-template', { chatTemplate: TEMPLATE }), 'fp32');
    plain = await serve(await tinyModelDir(), 'fp32');
  });
  afterAll(async () => {
    await stop(templated);
    await stop(plain);
  });

  const tokenize = async (served: Served, messages: unknown) => {
    const response = await fetch(`${served.server.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt2', messages }) });
    return ((await response.json()) as { tokens: number[] }).tokens;
  };
  const messages = [
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hi there' },
    { role: 'user', content: 'How are you?' },
  ];

  it('renders chat turns with it, EOS between turns, for /tokenize and chat completions alike', async () => {
    const tokenizer = templated!.engine.tokenizer;
    const expected = tokenizer.encodeWithSpecialTokens('Hello<|endoftext|>Hi there<|endoftext|>How are you?<|endoftext|>');
    expect(await tokenize(templated!, messages)).toEqual(expected);
    const chat = await templated!.client.chat.completions.create({ model: 'gpt2', messages: messages as OpenAI.Chat.ChatCompletionMessageParam[], max_tokens: 3, temperature: 0 });
    expect(chat.usage?.prompt_tokens).toBe(expected.length);
  });

  it('and the same request to the model without a template uses the default transcript', async () => {
    const tokenizer = plain!.engine.tokenizer;
    expect(await tokenize(plain!, messages)).toEqual(tokenizer.encode('User: Hello\n\nAssistant: Hi there\n\nUser: How are you?\n\nAssistant:'));
  });
});
