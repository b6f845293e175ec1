// The error the model fetcher and resolver throw: what could not be had, from where, and what to do.

export class ModelFetchError extends Error {
  override readonly name = 'ModelFetchError';
}
