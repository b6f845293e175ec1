// What the proxy reads from a client's body, and the text it sends upstream: the client's own,
// with only the model and stream_options.include_usage changed when they must be.
import { ApiError } from '../../../service/http/api-error';
import { ENDPOINTS, type ProxyEndpoint } from '../../../service/proxy/endpoints';
import { readRelayRequest } from '../../../service/proxy/request-body';

const endpoint = (url: string): ProxyEndpoint => ENDPOINTS.find((candidate) => candidate.url === url)!;
const chat = endpoint('/v1/chat/completions');

function read(target: ProxyEndpoint, text: string, params: Record<string, string> = {}) {
  return readRelayRequest(target, { body: JSON.parse(text), bodyText: text, params });
}

function rejection(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected an ApiError');
}

describe('readRelayRequest', () => {
  it('sends the client text itself when the model needs no rewrite and the request does not stream', () => {
    const text = '{"model":"gpt-4o-mini","messages":[],"top_k":5,"metadata":{"b":1,"a":2}}';
    expect(read(chat, text).textFor('gpt-4o-mini')).toBe(text);
  });

  it('rewrites the model for an alias or an Azure deployment, nothing else', () => {
    const text = '{"messages":[{"role":"user","content":"x"}],"model":"default","tools":[]}';
    expect(read(chat, text).textFor('prod-deployment')).toBe('{"messages":[{"role":"user","content":"x"}],"model":"prod-deployment","tools":[]}');
  });

  it('asks for usage on a stream, keeping the client\'s other stream options, and remembers whether the client asked itself', () => {
    const plain = read(chat, '{"model":"m","stream":true}');
    expect(plain.wantsUsage).toBe(false);
    expect(plain.textFor('m')).toBe('{"model":"m","stream":true,"stream_options":{"include_usage":true}}');
    const other = read(chat, '{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}');
    expect(other.textFor('m')).toBe('{"model":"m","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}');
    const asked = read(chat, '{"model":"m","stream":true,"stream_options":{"include_usage":true}}');
    expect(asked.wantsUsage).toBe(true);
    expect(asked.textFor('m')).toBe('{"model":"m","stream":true,"stream_options":{"include_usage":true}}');
  });

  it('leaves stream_options of a Responses stream alone (its usage comes in response.completed)', () => {
    const text = '{"model":"m","input":"hi","stream":true}';
    expect(read(endpoint('/v1/responses'), text).textFor('m')).toBe(text);
  });

  it('takes the model of the legacy engines route from the path', () => {
    const request = read(endpoint('/v1/engines/:engine/completions'), '{"prompt":"x"}', { engine: 'davinci' });
    expect(request.model).toBe('davinci');
    expect(request.textFor('gpt-3.5-turbo-instruct')).toBe('{"prompt":"x","model":"gpt-3.5-turbo-instruct"}');
  });

  it.each([
    ['[1,2]', null, 'invalid_type'],
    ['{"messages":[]}', 'model', 'missing_required_parameter'],
    ['{"model":7}', 'model', 'invalid_type'],
    ['{"model":"m","stream":"yes"}', 'stream', 'invalid_type'],
    ['{"model":"m","stream_options":true}', 'stream_options', 'invalid_type'],
  ])('answers %s with 400 naming %s', (text, param, code) => {
    const error = rejection(() => read(chat, text));
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.code).toBe(code);
  });
});
