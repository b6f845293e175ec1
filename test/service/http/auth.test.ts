import { bearerToken, createKeyAuthenticator, hashKey } from '../../../service/http/auth';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';

describe('createKeyAuthenticator', () => {
  it('hashes keys as sha256 hex', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('identifies each configured key by its name and rejects others', () => {
    const auth = createKeyAuthenticator([
      { name: 'alice', sha256: hashKey('key-a') },
      { name: 'bob', sha256: hashKey('key-b').toUpperCase() },
    ]);
    expect(auth.enabled).toBe(true);
    expect(auth.identify('key-a')).toEqual({ name: 'alice' });
    expect(auth.identify('key-b')).toEqual({ name: 'bob' });
    expect(auth.identify('key-c')).toBeUndefined();
    expect(auth.identify('')).toBeUndefined();
  });

  it('finds each of a thousand keys, and gives a digest configured twice to its first name', () => {
    const keys = Array.from({ length: 1000 }, (_, index) => ({ name: `client-${index}`, sha256: hashKey(`sk-${index}`) }));
    const auth = createKeyAuthenticator([...keys, { name: 'impostor', sha256: hashKey('sk-7') }]);
    expect(auth.identify('sk-0')).toEqual({ name: 'client-0' });
    expect(auth.identify('sk-999')).toEqual({ name: 'client-999' });
    expect(auth.identify('sk-7')).toEqual({ name: 'client-7' });
    expect(auth.identify('sk-1000')).toBeUndefined();
  });

  it('is disabled without keys', () => {
    const auth = createKeyAuthenticator([]);
    expect(auth.enabled).toBe(false);
    expect(auth.identify('anything')).toBeUndefined();
  });

  it('refuses a digest that is not sha256 hex, naming the key', () => {
    expect(() => createKeyAuthenticator([{ name: 'svc', sha256: 'plain-key' }])).toThrow(/"svc".*64 hex/);
  });

  it('extracts bearer tokens case-insensitively and rejects other schemes', () => {
    expect(bearerToken('Bearer sk-1')).toBe('sk-1');
    expect(bearerToken('bearer  sk-2 ')).toBe('sk-2');
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('HTTP authentication', () => {
  let server: TestServer;
  const backend = createFakeBackend();
  beforeAll(async () => {
    server = await startTestServer(backend, { keys: { alice: 'sk-alice', bob: 'sk-bob' } });
  });
  afterAll(async () => {
    await server.close();
  });

  const complete = (headers: Record<string, string>) =>
    fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: FAKE_MODEL, prompt: 'x' }),
    });

  it.each([
    ['a missing key', {}],
    ['a wrong key', { authorization: 'Bearer sk-mallory' }],
    ['another scheme', { authorization: 'Basic c2stYWxpY2U=' }],
  ])('returns 401 invalid_api_key for %s', async (_case, headers) => {
    const response = await complete(headers);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toEqual({
      error: { message: expect.stringMatching(/API key/), type: 'authentication_error', param: null, code: 'invalid_api_key' },
    });
  });

  it('passes the client identity to the backend and logs its name, never the key', async () => {
    const response = await complete({ authorization: 'Bearer sk-bob', 'x-request-id': 'auth-bob' });
    expect(response.status).toBe(200);
    expect(backend.contexts.find((ctx) => ctx.requestId === 'auth-bob')?.client).toEqual({ name: 'bob' });
    expect(server.logs.find((line) => line.request_id === 'auth-bob' && line.msg === 'request completed')).toMatchObject({ client: 'bob' });
    expect(JSON.stringify(server.logs)).not.toContain('sk-bob');
  });

  it('guards /v1/models too but leaves health, readiness and metrics open', async () => {
    expect((await fetch(`${server.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/models`, { headers: { authorization: 'Bearer sk-alice' } })).status).toBe(200);
    for (const path of ['/health', '/ready', '/metrics']) expect((await fetch(`${server.url}${path}`)).status).toBe(200);
  });

  it('checks the key before reading a large body', async () => {
    const response = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: FAKE_MODEL, prompt: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(response.status).toBe(401);
  });
});
