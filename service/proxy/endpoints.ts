// The OpenAI endpoints the proxy relays, and what it must know about each: the upstream path, the
// protocol its bodies and streams follow (where usage and text are), and how Azure OpenAI addresses it.

/** How an endpoint's response carries usage and, when streamed, its events. */
export type Protocol = 'chat' | 'completions' | 'responses' | 'embeddings' | 'moderations';

export interface ProxyEndpoint {
  /** The route clients call. */
  readonly url: string;
  /** The path under the upstream's base URL (OpenAI's, without `/v1`). */
  readonly path: string;
  readonly protocol: Protocol;
  /** `stream: true` is answered with server-sent events. */
  readonly streams: boolean;
  /** Streams take `stream_options.include_usage` (the proxy always asks for usage to count tokens). */
  readonly usageOption: boolean;
  /** The path parameter that names the model instead of the body's `model` (the legacy engines route). */
  readonly modelParam?: string;
  /**
   * Azure OpenAI's deployments API: `deployment` puts the deployment in the path
   * (/openai/deployments/{name}/...), `resource` calls /openai/... with the deployment as the body's
   * model; undefined: Azure does not serve it.
   */
  readonly azure: 'deployment' | 'resource' | undefined;
}

export const ENDPOINTS: readonly ProxyEndpoint[] = [
  { url: '/v1/chat/completions', path: '/chat/completions', protocol: 'chat', streams: true, usageOption: true, azure: 'deployment' },
  { url: '/v1/completions', path: '/completions', protocol: 'completions', streams: true, usageOption: true, azure: 'deployment' },
  {
    url: '/v1/engines/:engine/completions',
    path: '/completions',
    protocol: 'completions',
    streams: true,
    usageOption: true,
    modelParam: 'engine',
    azure: 'deployment',
  },
  { url: '/v1/responses', path: '/responses', protocol: 'responses', streams: true, usageOption: false, azure: 'resource' },
  { url: '/v1/embeddings', path: '/embeddings', protocol: 'embeddings', streams: false, usageOption: false, azure: 'deployment' },
  { url: '/v1/moderations', path: '/moderations', protocol: 'moderations', streams: false, usageOption: false, azure: undefined },
];
