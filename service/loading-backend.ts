// A Backend that stands in while the real one loads (the model takes seconds to minutes), so the
// server can listen at once: /health answers, /ready and API routes say 503 until loading ends.
import type { Backend } from './backend';
import { ApiError } from './http/api-error';

export interface LoadingBackend extends Backend {
  /** Resolves when loading succeeded; rejects with the loader's error. */
  readonly loaded: Promise<Backend>;
}

export function loadingBackend(variant: Backend['variant'], load: Promise<Backend>): LoadingBackend {
  let ready: Backend | undefined;
  const loaded = load.then((backend) => {
    ready = backend;
    return backend;
  });
  // The caller observes failures through `loaded`; this keeps an unobserved copy from crashing.
  loaded.catch(() => undefined);

  const current = (): Backend => {
    if (ready !== undefined) return ready;
    // The HTTP layer checks isReady() first; this only guards a caller that does not.
    throw new ApiError({ status: 503, type: 'service_unavailable', code: 'not_ready', message: 'The model is still loading; retry shortly.' });
  };

  return {
    variant,
    loaded,
    isReady: () => ready?.isReady() ?? false,
    listModels: async (ctx) => current().listModels(ctx),
    createCompletion: async (request, ctx) => current().createCompletion(request, ctx),
    createChatCompletion: async (request, ctx) => current().createChatCompletion(request, ctx),
    // Optional methods exist only once the loaded backend has them: before that the routes see
    // them as present and the call answers 503 rather than a misleading 404.
    tokenize: async (request, ctx) => {
      const backend = current();
      if (backend.tokenize === undefined) throw noTokenizer('/tokenize');
      return backend.tokenize(request, ctx);
    },
    detokenize: async (request, ctx) => {
      const backend = current();
      if (backend.detokenize === undefined) throw noTokenizer('/detokenize');
      return backend.detokenize(request, ctx);
    },
    async close() {
      const backend = await loaded.catch(() => undefined);
      await backend?.close();
    },
  };
}

function noTokenizer(path: string): ApiError {
  return new ApiError({ status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `${path} is not available: this backend has no tokenizer.` });
}
