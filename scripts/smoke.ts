// `npm run smoke -- --url URL`: checks that a running endpoint answers like this project's service
// (readiness, models, completions, streaming, chat, errors, auth). Plain fetch: no service code needed.
import { writeFileSync } from 'node:fs';
import { parseSmokeArgs, USAGE } from './smoke/options';
import { formatTable, toJson } from './smoke/report';
import { runSmoke } from './smoke/runner';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseSmokeArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`smoke: ${(error as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const report = await runSmoke(parsed.options);
  process.stdout.write(`${formatTable(report)}\n`);
  if (parsed.options.jsonFile !== undefined) writeFileSync(parsed.options.jsonFile, toJson(report));
  return report.passed ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`smoke: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
