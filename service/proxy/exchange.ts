// One admitted request's bookkeeping, finished exactly once however it ends: the tokens it used
// (reported, or estimated from what was relayed) settle its key's budget and count in metrics, its
// concurrency slot is released, and its access-log line gets the upstream, attempts and tokens.
import type { RequestContext } from '../backend';
import type { Admission, Admitted } from './admission';
import type { ProxyMetrics } from './metrics';
import type { AttemptObserver, AttemptStart, RequestDeadline } from './upstream';

export interface TokenCount {
  readonly prompt: number;
  readonly completion: number;
  /** No usage came back (a stream that broke or was aborted): counted from the request and the relayed text. */
  readonly estimated: boolean;
}

export interface ExchangeDeps {
  readonly metrics: ProxyMetrics;
  readonly admission: Admission;
  readonly ctx: RequestContext;
  readonly client: string;
  /** The model served (after aliases): the metric label. */
  readonly model: string;
  /** What the client asked for (an alias, or the model itself). */
  readonly requestedModel: string;
  readonly admitted: Admitted;
  readonly deadline: RequestDeadline;
  /** Called once the exchange is finished (the backend's in-flight count). */
  readonly onFinished: () => void;
}

export class Exchange implements AttemptObserver {
  private finished = false;
  private attempts = 0;
  private upstream: string | undefined;
  private upstreamRequestId: string | undefined;

  constructor(private readonly deps: ExchangeDeps) {}

  get deadline(): RequestDeadline {
    return this.deps.deadline;
  }

  /** x-ratelimit-* for a successful answer (an upstream 429 carries the upstream's own instead). */
  get rateLimitHeaders(): Readonly<Record<string, string>> {
    return this.deps.admitted.headers;
  }

  attempted(start: AttemptStart): void {
    this.attempts = start.number;
    this.upstream = start.target.client.name;
  }

  sawUpstreamRequestId(id: string | undefined): void {
    if (id !== undefined) this.upstreamRequestId = id;
  }

  /** `status`: what the client got (for a broken stream, its error event's status). */
  finish(status: number, tokens: TokenCount | undefined): void {
    if (this.finished) return;
    this.finished = true;
    const { metrics, admission, admitted, ctx, client, model } = this.deps;
    if (tokens !== undefined) {
      admission.settle(admitted, tokens.prompt + tokens.completion);
      metrics.tokens.inc({ client, model, kind: 'prompt' }, tokens.prompt);
      metrics.tokens.inc({ client, model, kind: 'completion' }, tokens.completion);
    }
    admission.release(admitted);
    this.deps.deadline.dispose();
    ctx.annotate({
      model,
      requested_model: this.deps.requestedModel === model ? undefined : this.deps.requestedModel,
      upstream: this.upstream,
      attempts: this.attempts,
      upstream_request_id: this.upstreamRequestId,
      prompt_tokens: tokens?.prompt,
      completion_tokens: tokens?.completion,
      tokens_estimated: tokens?.estimated,
    });
    metrics.requests.inc({ client, model, status: String(status) });
    this.deps.onFinished();
  }
}
