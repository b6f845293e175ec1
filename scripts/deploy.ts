// `npm run deploy -- --target T --spec FILE`: deploys a deployment spec with the target's own tool (compose,
// CDK, Pulumi), smoke-tests the endpoint and prints a summary. See --help and README "Deploy with one command".
import { createInterface } from 'node:readline/promises';
import { UsageError } from './deploy/errors';
import { parseDeployArgs, USAGE } from './deploy/options';
import { runDeploy } from './deploy/run';
import { formatSummary } from './deploy/summary';

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError('no terminal to ask for confirmation on: pass --yes to deploy or destroy without one');
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseDeployArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`deploy: ${(error as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const result = await runDeploy(parsed.options, {
    env: process.env,
    output: (line) => process.stdout.write(`${line}\n`),
    confirm,
  });
  process.stdout.write(`\n${formatSummary(result)}\n`);
  if (!result.ok && result.error !== undefined) process.stderr.write(`deploy: ${result.error}\n`);
  return result.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`deploy: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
