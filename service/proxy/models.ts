// Which models the proxy serves: the allowlist of upstream models and the aliases clients may ask for
// (e.g. `gpt2` or the retired `text-davinci-003`), resolved before any upstream call.
import type { Model } from 'openai/resources/models';
import { ApiError } from '../http/api-error';

export class ModelCatalog {
  private readonly allowed: ReadonlySet<string>;
  private readonly aliases: ReadonlyMap<string, string>;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(models: { readonly allow: readonly string[]; readonly aliases: Readonly<Record<string, string>> }) {
    this.allowed = new Set(models.allow);
    this.aliases = new Map(Object.entries(models.aliases));
  }

  /** The upstream model for what the client asked, or ApiError 404 model_not_found (nothing is sent upstream). */
  resolve(requested: string): string {
    const target = this.aliases.get(requested) ?? (this.allowed.has(requested) ? requested : undefined);
    if (target === undefined) {
      throw new ApiError({
        status: 404,
        type: 'invalid_request_error',
        code: 'model_not_found',
        param: 'model',
        message: `The model '${requested}' does not exist or is not served by this proxy; GET /v1/models lists the models you can use.`,
      });
    }
    return target;
  }

  /** Every name a client may send: the allowed upstream models, then the aliases. */
  list(): Model[] {
    const names = [...this.allowed, ...[...this.aliases.keys()].filter((alias) => !this.allowed.has(alias))];
    return names.map((id) => ({ id, object: 'model', created: this.created, owned_by: 'proxy' }));
  }
}
