// An inference backend that stands in while the real one loads (the model takes seconds to minutes),
// so the server can listen at once: /health answers, /ready and API routes say 503 until loading ends.
import { ApiError } from './http/api-error';
import type { InferenceBackend } from './inference/api';
import { inferenceRoutes } from './inference/routes';

export interface LoadingBackend extends InferenceBackend {
  /** Resolves when loading succeeded; rejects with the loader's error. */
  readonly loaded: Promise<InferenceBackend>;
}

export function loadingBackend(load: Promise<InferenceBackend>): LoadingBackend {
  let ready: InferenceBackend | undefined;
  const loaded = load.then((backend) => {
    ready = backend;
    return backend;
  });
  // The caller observes failures through `loaded`; this keeps an unobserved copy from crashing.
  loaded.catch(() => undefined);

  const current = (): InferenceBackend => {
    if (ready !== undefined) return ready;
    // The HTTP layer checks isReady() first; this only guards a caller that does not.
    throw new ApiError({ status: 503, type: 'service_unavailable', code: 'not_ready', message: 'The model is still loading; retry shortly.' });
  };

  const backend: LoadingBackend = {
    variant: 'inference',
    loaded,
    isReady: () => ready?.isReady() ?? false,
    // The routes are registered before the model exists, so they call this stand-in, which delegates.
    routes: (options) => inferenceRoutes(backend, options),
    listModels: async (ctx) => current().listModels(ctx),
    createCompletion: async (request, ctx) => current().createCompletion(request, ctx),
    createChatCompletion: async (request, ctx) => current().createChatCompletion(request, ctx),
    // Optional methods exist only once the loaded backend has them: before that the routes see
    // them as present and the call answers 503 rather than a misleading 404.
    tokenize: async (request, ctx) => {
      const loadedBackend = current();
      if (loadedBackend.tokenize === undefined) throw noTokenizer('/tokenize');
      return loadedBackend.tokenize(request, ctx);
    },
    detokenize: async (request, ctx) => {
      const loadedBackend = current();
      if (loadedBackend.detokenize === undefined) throw noTokenizer('/detokenize');
      return loadedBackend.detokenize(request, ctx);
    },
    async close() {
      const loadedBackend = await loaded.catch(() => undefined);
      await loadedBackend?.close();
    },
  };
  return backend;
}

function noTokenizer(path: string): ApiError {
  return new ApiError({ status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `${path} is not available: this backend has no tokenizer.` });
}
