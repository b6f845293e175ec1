// What the proxy reads from a client's body (model, stream, stream_options) and the body it sends
// upstream: the client's text with only `model` (alias, Azure deployment) and
// `stream_options.include_usage` changed. Every other field is the upstream's to validate.
import type { ApiRequest } from '../backend';
import { ApiError } from '../http/api-error';
import type { ProxyEndpoint } from './endpoints';
import { editMembers, type MemberEdit, type MemberSpan, topLevelMembers } from './json-members';

export interface RelayRequest {
  /** The model the client asked for (before aliases). */
  readonly model: string;
  readonly stream: boolean;
  /** The client asked for the usage chunk itself (`stream_options.include_usage: true`). */
  readonly wantsUsage: boolean;
  /** The parsed body, for the token estimate and content logging. */
  readonly body: Readonly<Record<string, unknown>>;
  /** The text to send to an upstream that knows the model as `upstreamModel`. */
  textFor(upstreamModel: string): string;
}

function invalid(param: string | null, message: string, code = 'invalid_type'): ApiError {
  return new ApiError({ status: 400, type: 'invalid_request_error', code, param, message });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the fields the proxy itself needs; throws ApiError 400 when one of them is unusable. */
export function readRelayRequest(endpoint: ProxyEndpoint, request: ApiRequest): RelayRequest {
  const body = request.body;
  if (!isPlainObject(body)) throw invalid(null, 'The request body must be a JSON object.');
  const model = endpoint.modelParam === undefined ? body.model : request.params[endpoint.modelParam];
  if (model === undefined || model === null) throw invalid('model', "Missing required parameter: 'model'.", 'missing_required_parameter');
  if (typeof model !== 'string' || model.length === 0) throw invalid('model', "Invalid 'model': expected a model name (a non-empty string).");
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalid('stream', "Invalid 'stream': expected true or false.");
  }
  const options = body.stream_options;
  if (options !== undefined && options !== null && !isPlainObject(options)) {
    throw invalid('stream_options', "Invalid 'stream_options': expected an object such as {\"include_usage\": true}.");
  }
  const stream = endpoint.streams && body.stream === true;
  const wantsUsage = isPlainObject(options) && options.include_usage === true;
  const text = request.bodyText ?? JSON.stringify(body);
  // Usage is always asked for, to count tokens; the client sees the usage chunk only if it asked.
  const usageEdit: MemberEdit | undefined =
    stream && endpoint.usageOption && !wantsUsage
      ? { key: 'stream_options', json: JSON.stringify({ ...(isPlainObject(options) ? options : {}), include_usage: true }) }
      : undefined;
  // The legacy engines route names the model in the path, so the body always gets it.
  const modelAlwaysSet = endpoint.modelParam !== undefined;
  let members: MemberSpan[] | undefined;
  const texts = new Map<string, string>();
  return {
    model,
    stream,
    wantsUsage,
    body,
    textFor(upstreamModel) {
      const cached = texts.get(upstreamModel);
      if (cached !== undefined) return cached;
      const edits: MemberEdit[] = [];
      if (modelAlwaysSet || upstreamModel !== model) edits.push({ key: 'model', json: JSON.stringify(upstreamModel) });
      if (usageEdit !== undefined) edits.push(usageEdit);
      let edited = text;
      if (edits.length > 0) {
        members ??= topLevelMembers(text);
        edited = editMembers(text, members, edits);
      }
      texts.set(upstreamModel, edited);
      return edited;
    },
  };
}
