import pino from 'pino';
import type { RequestContext } from '../../service/backend';
import type { InferenceBackend } from '../../service/inference/api';
import { ApiError } from '../../service/http/api-error';
import { loadingBackend } from '../../service/loading-backend';
import { createFakeBackend } from '../support/fake-backend';

const ctx: RequestContext = { requestId: 'r', signal: new AbortController().signal, client: undefined, log: pino({ level: 'silent' }), setHeader: () => undefined, annotate: () => undefined };

it('is not ready and answers 503 not_ready until the backend loaded, then delegates', async () => {
  let finish: (backend: InferenceBackend) => void = () => undefined;
  const wrapper = loadingBackend(new Promise<InferenceBackend>((resolve) => (finish = resolve)));
  expect(wrapper.isReady()).toBe(false);
  await expect(wrapper.listModels(ctx)).rejects.toMatchObject({ status: 503, code: 'not_ready' });
  const real = createFakeBackend();
  finish(real);
  await wrapper.loaded;
  expect(wrapper.isReady()).toBe(true);
  expect((await wrapper.listModels(ctx)).map((model) => model.id)).toContain('fake-model');
  expect(await wrapper.tokenize!({ prompt: 'a' }, ctx)).toMatchObject({ tokens: [97] });
  await wrapper.close();
  expect(real.closed).toBe(true);
});

it('answers 404 for tokenize when the loaded backend has none, and closes after a failed load', async () => {
  const wrapper = loadingBackend(Promise.resolve(createFakeBackend({ withTokenizer: false })));
  await wrapper.loaded;
  const error = await wrapper.tokenize!({ prompt: 'a' }, ctx).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ApiError);
  expect(error).toMatchObject({ status: 404, code: 'unknown_url' });
  const failed = loadingBackend(Promise.reject(new Error('no model')));
  await expect(failed.loaded).rejects.toThrow('no model');
  expect(failed.isReady()).toBe(false);
  await expect(failed.close()).resolves.toBeUndefined();
});
