// The proxy variant's routes: every relayed endpoint, and the model list it answers itself.
// Multipart endpoints (audio, image edits), files and batches are not relayed (README: Proxy).
import type { Model } from 'openai/resources/models';
import type { ApiAnswer, ApiRequest, ApiRoute, RequestContext } from '../backend';
import { modelNotFound } from '../http/errors';
import { ENDPOINTS, type ProxyEndpoint } from './endpoints';

export interface ProxyHandler {
  relay(endpoint: ProxyEndpoint, request: ApiRequest, ctx: RequestContext): Promise<ApiAnswer>;
  listModels(): Model[];
}

export function proxyRoutes(handler: ProxyHandler): ApiRoute[] {
  return [
    ...ENDPOINTS.map(
      (endpoint): ApiRoute => ({ method: 'POST', url: endpoint.url, handle: (request, ctx) => handler.relay(endpoint, request, ctx) }),
    ),
    { method: 'GET', url: '/v1/models', handle: async () => ({ kind: 'json', body: { object: 'list', data: handler.listModels() } }) },
    {
      // A wildcard because model ids may contain slashes.
      method: 'GET',
      url: '/v1/models/*',
      async handle(request) {
        const id = request.params['*'] ?? '';
        const model = handler.listModels().find((candidate) => candidate.id === id);
        if (model === undefined) throw modelNotFound(id);
        return { kind: 'json', body: model };
      },
    },
  ];
}
