// The deploy command's result: the summary people read at the end, and the JSON CI keeps as an artifact.
import type { Target, Variant } from '../../infra/spec';
import type { ApiKeysLocation } from './api-keys';
import { formatDuration } from '../smoke/report';
import type { SmokeReport } from '../smoke/runner';

export type DeployAction = 'deploy' | 'destroy' | 'dry-run' | 'registry-only';

export interface DeployResult {
  readonly ok: boolean;
  readonly exitCode: number;
  readonly action: DeployAction;
  readonly target: Target;
  readonly spec: string;
  readonly name?: string;
  readonly variant?: Variant;
  readonly model?: { readonly id: string; readonly revision: string };
  readonly stack?: string;
  /** Every command run (or, in a dry run, that would run), as a shell would take it. */
  readonly commands: readonly string[];
  readonly preview?: string;
  readonly url?: string;
  /** Dry run: the URL the endpoint will have, or how the stack forms it. */
  readonly plannedUrl?: string;
  readonly registry?: string;
  readonly identity?: string;
  /** Inference on a cloud: where the API key lives and the command that reads it (never the key). */
  readonly apiKeys?: ApiKeysLocation;
  /** Dry run: the hourly compute cost line (list prices at a date). */
  readonly cost?: string;
  readonly smoke?: SmokeReport;
  readonly error?: string;
}

function smokeLine(result: DeployResult): string {
  const smoke = result.smoke;
  if (smoke === undefined) return result.action === 'deploy' && !result.ok ? 'not run' : 'not applicable';
  const failed = smoke.checks.filter((check) => check.status === 'fail').length;
  return smoke.passed
    ? `passed (${smoke.checks.length} checks in ${formatDuration(smoke.ms)})`
    : `FAILED (${failed} of ${smoke.checks.length} checks)`;
}

export function formatSummary(result: DeployResult): string {
  const rows: [string, string | undefined][] = [
    ['action', result.action],
    ['target', result.target],
    ['spec', `${result.spec}${result.variant === undefined ? '' : ` (${result.variant})`}`],
    ['stack', result.stack],
    ['url', result.url ?? result.plannedUrl],
    ['registry', result.registry],
    ['api key', result.apiKeys?.where],
    ['cost', result.cost],
    ['preview', result.preview],
    ['smoke', result.action === 'deploy' ? smokeLine(result) : undefined],
    ['result', result.ok ? 'ok' : `FAILED (exit ${result.exitCode}): ${result.error ?? ''}`],
  ];
  const lines = rows.filter((row): row is [string, string] => row[1] !== undefined).map(([key, value]) => `  ${key.padEnd(8)} ${value}`);
  return ['deploy summary', ...lines].join('\n');
}

export function toJson(result: DeployResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}
