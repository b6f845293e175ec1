// A lean `fetch` for the openai client on undici's request API: the WHATWG fetch machinery
// (Request objects, webidl checks) cost about 0.7 ms of CPU per proxied request here (35%).
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Statuses whose Response must not have a body (the constructor throws otherwise). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * Sends `init.body` (the openai client sends JSON strings) through `dispatcher` and answers with a
 * Response whose body streams as it arrives. Responses are not decompressed, so identity is asked for.
 */
export function dispatcherFetch(dispatcher: Dispatcher): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    headers['accept-encoding'] = 'identity';
    if (init?.body != null && typeof init.body !== 'string') {
      throw new TypeError('dispatcherFetch sends string bodies only (the proxy posts JSON)');
    }
    const response = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: init?.body ?? undefined,
      signal: init?.signal ?? undefined,
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(name, one);
    }
    if (NULL_BODY_STATUSES.has(response.statusCode)) {
      response.body.resume();
      return new Response(null, { status: response.statusCode, headers: responseHeaders });
    }
    return new Response(Readable.toWeb(response.body) as ReadableStream<Uint8Array>, {
      status: response.statusCode,
      headers: responseHeaders,
    });
  };
}
