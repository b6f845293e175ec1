// The proxy relays the OpenAI API as the client sent it: the official openai client through the
// proxy to a recording fake upstream. The upstream receives the client's body text (only the model
// of an alias and stream_options.include_usage change), and the client gets the upstream's bytes
// (only the usage chunk the proxy asked for on its behalf is dropped).
import { FakeUpstream, responsesStreamFrames, UPSTREAM_REQUEST_ID } from './support/fake-upstream';
import { writeProxyConfig } from './support/config-file';
import { proxyEnv, recordingFetch, type ServedProxy, serveProxy } from './support/harness';

const upstream = new FakeUpstream();
let proxy: ServedProxy;

beforeAll(async () => {
  const url = await upstream.start();
  const config = writeProxyConfig({
    models: {
      allow: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'omni-moderation-latest'],
      aliases: { default: 'gpt-4o-mini' },
    },
  });
  proxy = await serveProxy(proxyEnv(url, { PROXY_CONFIG_FILE: config }), { logContent: false });
});
afterAll(async () => {
  await proxy.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

/** proxy_tokens_total for the alpha key, a model and a kind. */
function tokens(metrics: string, model: string, kind: 'prompt' | 'completion'): number {
  const line = new RegExp(`proxy_tokens_total\\{client="alpha",model="${model}",kind="${kind}"\\} (\\d+)`).exec(metrics);
  return Number(line?.[1] ?? 0);
}

/** The text a stream request reaches the upstream with: the client's, with usage asked for at the end. */
const withUsageAsked = (text: string) => `${text.slice(0, -1)},"stream_options":{"include_usage":true}}`;

const toolCall = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } } as const;
const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true },
} as const;

describe('requests reach the upstream as the client sent them', () => {
  it('relays tools, tool_choice, an assistant tool_calls message, a tool message and fields no schema knows, and answers with the upstream bytes', async () => {
    const answer = JSON.stringify({
      id: 'chatcmpl-tools',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-2024-08-06',
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [toolCall], refusal: null }, logprobs: null, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 50, completion_tokens: 12, total_tokens: 62 },
      system_fingerprint: 'fp_fake',
    });
    upstream.enqueue({ kind: 'reply', body: answer });
    const recorder = recordingFetch();
    const response = await proxy
      .client({ maxRetries: 0, fetch: recorder.fetch })
      .chat.completions.create({
        model: 'gpt-4o',
        messages: [
          { role: 'system', content: 'You answer with tools.' },
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: null, tool_calls: [toolCall] },
          { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
        ],
        tools: [weatherTool],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
        metadata: { team: 'a' },
        store: true,
        reasoning_effort: 'low',
        // A vLLM extension: OpenAI would reject it, and that is the upstream's call to make.
        top_k: 5,
      } as Parameters<ReturnType<ServedProxy['client']>['chat']['completions']['create']>[0])
      .asResponse();
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(answer);
    expect(response.headers.get('x-upstream-request-id')).toBe(UPSTREAM_REQUEST_ID);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]!.text).toBe(recorder.sent[0]);
    expect(upstream.requests[0]!.path).toBe('/v1/chat/completions');
  });

  it('relays response_format with a JSON schema and image parts (a URL and an inline image), charging the image a flat estimate', async () => {
    // 480 KB of base64 would be 120,000 tokens by length, over the default 90,000 tokens/min.
    const inline = `data:image/png;base64,${'A'.repeat(480_000)}`;
    const recorder = recordingFetch();
    const completion = await proxy.client({ maxRetries: 0, fetch: recorder.fetch }).chat.completions.create({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these images?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
            { type: 'image_url', image_url: { url: inline } },
          ],
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { animal: { type: 'string' } }, required: ['animal'], additionalProperties: false } },
      },
    });
    expect(completion.choices[0]?.message.content).toBe('Hello, world!');
    expect(upstream.requests[0]!.text).toBe(recorder.sent[0]);
  });

  it('rewrites only the model of an alias', async () => {
    const recorder = recordingFetch();
    await proxy.client({ maxRetries: 0, fetch: recorder.fetch }).chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }], seed: 7 });
    expect(upstream.requests[0]!.text).toBe(recorder.sent[0]!.replace('"model":"default"', '"model":"gpt-4o-mini"'));
    const line = proxy.accessLog().at(-1);
    expect(line).toMatchObject({ model: 'gpt-4o-mini', requested_model: 'default', upstream: 'default', attempts: 1, prompt_tokens: 5, completion_tokens: 4 });
  });
});

describe('streams reach the client as the upstream wrote them', () => {
  it('relays streamed tool-call deltas byte for byte, dropping only the usage chunk the proxy asked for', async () => {
    const chunk = (delta: unknown, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
    const relayed = [
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
    ];
    const usageChunk = `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 } })}\n\n`;
    upstream.enqueue({ kind: 'sse', frames: [...relayed, usageChunk, 'data: [DONE]\n\n'] });
    const before = await proxy.metrics();
    const recorder = recordingFetch();
    const response = await proxy
      .client({ maxRetries: 0, fetch: recorder.fetch })
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }], tools: [weatherTool], stream: true })
      .asResponse();
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await response.text()).toBe([...relayed, 'data: [DONE]\n\n'].join(''));
    expect(upstream.requests[0]!.text).toBe(withUsageAsked(recorder.sent[0]!));
    expect(tokens(await proxy.metrics(), 'gpt-4o', 'completion') - tokens(before, 'gpt-4o', 'completion')).toBe(9);
  });

  it('passes the usage chunk on when the client asked for it, and the SDK assembles the stream', async () => {
    const stream = await proxy
      .client({ maxRetries: 0 })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe('Hello, world!');
    expect(usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    expect(JSON.parse(upstream.requests[0]!.text).stream_options).toEqual({ include_usage: true });
  });

  it('relays a /v1/responses stream with its typed events byte for byte and counts the usage of response.completed', async () => {
    const before = await proxy.metrics();
    const recorder = recordingFetch();
    const client = proxy.client({ maxRetries: 0, fetch: recorder.fetch });
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello', stream: true, max_output_tokens: 50 }).asResponse();
    expect(await response.text()).toBe(responsesStreamFrames('gpt-4o-mini').join(''));
    // A Responses stream takes no include_usage: its body goes up as it came.
    expect(upstream.requests[0]!.text).toBe(recorder.sent[0]);
    expect(upstream.requests[0]!.path).toBe('/v1/responses');
    const events: string[] = [];
    for await (const event of await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello', stream: true })) events.push(event.type);
    expect(events).toEqual(expect.arrayContaining(['response.created', 'response.output_text.delta', 'response.completed']));
    expect(events.at(-1)).toBe('response.completed');
    expect(tokens(await proxy.metrics(), 'gpt-4o-mini', 'completion') - tokens(before, 'gpt-4o-mini', 'completion')).toBe(8);
  });

  it('ends a /v1/responses stream that breaks off before response.completed with a Responses error event', async () => {
    const frames = responsesStreamFrames('gpt-4o-mini').slice(0, 5);
    upstream.enqueue({ kind: 'sse', frames });
    const response = await proxy.post('/v1/responses', { model: 'gpt-4o-mini', input: 'Say hello', stream: true });
    const text = await response.text();
    expect(text.startsWith(frames.join(''))).toBe(true);
    const last = text.slice(frames.join('').length);
    expect(last.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(last.slice('event: error\ndata: '.length))).toEqual({
      type: 'error',
      code: 'upstream_stream_interrupted',
      message: expect.stringMatching(/before the response was complete/),
      param: null,
      sequence_number: 5,
    });
    upstream.enqueue({ kind: 'sse', frames });
    const events: { type: string; code?: string | null }[] = [];
    for await (const event of await proxy.client({ maxRetries: 0 }).responses.create({ model: 'gpt-4o-mini', input: 'Say hello', stream: true })) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_stream_interrupted' });
  });

  it('answers a non-streamed /v1/responses call with the upstream body', async () => {
    const response = await proxy.client({ maxRetries: 0 }).responses.create({ model: 'gpt-4o-mini', input: 'Say hello', instructions: 'Be brief.' });
    expect(response.output_text).toBe('Hello, world!');
  });
});

describe('embeddings and moderations', () => {
  it('relays /v1/embeddings as sent and counts its prompt tokens', async () => {
    const recorder = recordingFetch();
    const before = await proxy.metrics();
    const response = await proxy
      .client({ maxRetries: 0, fetch: recorder.fetch })
      .embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], encoding_format: 'float', dimensions: 3 })
      .asResponse();
    const body = await response.text();
    expect(JSON.parse(body)).toMatchObject({ object: 'list', data: [{ embedding: [0.25, -0.5, 0.125] }] });
    expect(upstream.requests[0]!.text).toBe(recorder.sent[0]);
    expect(upstream.requests[0]!.path).toBe('/v1/embeddings');
    expect(tokens(await proxy.metrics(), 'text-embedding-3-small', 'prompt') - tokens(before, 'text-embedding-3-small', 'prompt')).toBe(3);
  });

  it('relays /v1/moderations', async () => {
    const moderation = await proxy.client({ maxRetries: 0 }).moderations.create({ model: 'omni-moderation-latest', input: 'hello' });
    expect(moderation.results[0]?.flagged).toBe(false);
    expect(upstream.requests[0]!.path).toBe('/v1/moderations');
  });
});

describe('upstream errors', () => {
  it('passes an upstream 400 on unchanged but for org, project and key ids, with x-should-retry: false', async () => {
    const body = (message: string) => JSON.stringify({ error: { message, type: 'invalid_request_error', param: 'top_k', code: 'unknown_parameter' } });
    upstream.enqueue({
      kind: 'reply',
      status: 400,
      body: body("Unrecognized request argument supplied: top_k (organization org-AbCdEf0123456789xyz, project proj_ZyXw9876543210abc, key sk-proj-abcdEFGH1234)"),
    });
    const response = await proxy.post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], top_k: 5 });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-should-retry')).toBe('false');
    expect(response.headers.get('x-upstream-request-id')).toBe(UPSTREAM_REQUEST_ID);
    expect(await response.text()).toBe(body('Unrecognized request argument supplied: top_k (organization [redacted], project [redacted], key [redacted])'));
  });

  it("keeps OpenAI's envelope for what the proxy refuses itself, before any upstream call", async () => {
    const response = await proxy.post('/v1/chat/completions', { messages: [] });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { message: "Missing required parameter: 'model'.", type: 'invalid_request_error', param: 'model', code: 'missing_required_parameter' } });
    const unknown = await proxy.post('/v1/embeddings', { model: 'text-embedding-ada-002', input: 'x' });
    expect(unknown.status).toBe(404);
    expect(upstream.requests).toHaveLength(0);
  });

  it('does not relay multipart endpoints (audio, image edits): 404 with the envelope', async () => {
    const response = await fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'multipart/form-data; boundary=b' }, body: '--b--' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
  });
});
