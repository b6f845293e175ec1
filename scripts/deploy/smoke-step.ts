// The smoke test after a deployment: the same checks as `npm run smoke`, in-process, with the models and
// readiness budget that fit the spec (a cloud GPU replica takes minutes to boot and load the model).
import type { DeploymentSpec, Target } from '../../infra/spec';
import { parseSmokeArgs, type SmokeOptions } from '../smoke/options';
import { runSmoke, type SmokeReport } from '../smoke/runner';
import type { DeployOptions } from './options';

/** Seconds to wait for /ready: local builds the image first, AWS boots a GPU instance and pulls the image. */
export const READY_TIMEOUT_SECONDS: Readonly<Record<Target, number>> = { local: 600, aws: 900, azure: 600, gcp: 600 };

/** Models the proxy's default allowlist holds (service/proxy/config.ts): one completions model, one chat model. */
const PROXY_MODELS = { completion: 'gpt-3.5-turbo-instruct', chat: 'gpt-4o-mini' };

export function smokeOptionsFor(spec: DeploymentSpec, url: string, options: DeployOptions): SmokeOptions {
  const model = options.smokeModel ?? (spec.variant === 'proxy' ? PROXY_MODELS.completion : spec.model.servedName);
  const chatModel = options.smokeChatModel ?? (options.smokeModel ?? (spec.variant === 'proxy' ? PROXY_MODELS.chat : model));
  const argv = [
    '--url', url,
    '--variant', spec.variant,
    '--model', model,
    '--chat-model', chatModel,
    '--timeout', String(options.timeoutSeconds ?? READY_TIMEOUT_SECONDS[spec.target]),
  ];
  if (options.apiKey !== undefined) argv.push('--api-key', options.apiKey);
  const parsed = parseSmokeArgs(argv, {});
  if (parsed.help) throw new Error('unreachable: no --help passed');
  return parsed.options;
}

export function runSmokeFor(spec: DeploymentSpec, url: string, options: DeployOptions): Promise<SmokeReport> {
  return runSmoke(smokeOptionsFor(spec, url, options));
}
