// Prints the sha256 of a client key, the form PROXY_CONFIG_FILE and PROXY_KEYS store keys in.
// Usage: npm run proxy:hash-key -- KEY   (or pipe the key on stdin to keep it out of shell history)
import { hashKey } from '../service/http/auth';

const USAGE = `usage: npm run proxy:hash-key -- KEY
       printf %s KEY | npm run proxy:hash-key
Prints the sha256 hex digest to put in PROXY_CONFIG_FILE keys[].sha256 or PROXY_KEYS=name:sha256.`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h') || args.length > 1) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = args.length > 1 ? 2 : 0;
    return;
  }
  const key = args[0] ?? (process.stdin.isTTY ? '' : await readStdin());
  if (key.length === 0) {
    process.stderr.write(`no key given\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${hashKey(key)}\n`);
}

void main();
