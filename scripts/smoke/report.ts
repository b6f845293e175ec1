// How a smoke report is shown: a fixed-width table for people, JSON for CI.
import type { SmokeReport } from './runner';

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function formatTable(report: SmokeReport): string {
  const rows = report.checks.map((check) => [check.name, check.status.toUpperCase(), formatDuration(check.ms), check.detail]);
  const header = ['check', 'result', 'time', 'detail'];
  const widths = [0, 1, 2].map((column) => Math.max(...[header, ...rows].map((row) => row[column]?.length ?? 0)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column] ?? 0) : cell)).join('  ').trimEnd();
  const failed = report.checks.filter((check) => check.status === 'fail').length;
  const summary = report.passed
    ? `smoke test passed: ${report.checks.length} checks against ${report.url} in ${formatDuration(report.ms)}`
    : `smoke test FAILED: ${failed} of ${report.checks.length} checks failed against ${report.url}`;
  return [line(header), ...rows.map(line), '', summary].join('\n');
}

export function toJson(report: SmokeReport): string {
  const rounded = {
    ...report,
    ms: Math.round(report.ms),
    checks: report.checks.map((check) => ({ ...check, ms: Math.round(check.ms) })),
  };
  return `${JSON.stringify(rounded, null, 2)}\n`;
}
