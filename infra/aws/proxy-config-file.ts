// Reads the spec's `proxy.config.file` at synth and checks it against the proxy's own schema, so a bad file fails
// `cdk synth` with the field that is wrong instead of a task that will not start.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { proxyFileSchema } from '../../service/proxy/config-file';
import { SpecError } from '../spec';

/** Secrets Manager's limit on a secret value. */
const MAX_SECRET_BYTES = 65_536;

/**
 * The file's text, as delivered to PROXY_CONFIG_FILE. `file` is relative to the working directory (the repository
 * root, where cdk runs), like the spec files themselves. Its content lands in the template: it holds key digests,
 * never keys, which the schema enforces.
 */
export function readProxyConfigFile(file: string): string {
  const resolved = path.resolve(file);
  let content: string;
  try {
    content = readFileSync(resolved, 'utf8');
  } catch (error) {
    throw new SpecError(`proxy.config.file: cannot read ${resolved}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (Buffer.byteLength(content) > MAX_SECRET_BYTES) {
    throw new SpecError(`proxy.config.file: ${file} is ${Buffer.byteLength(content)} bytes; a Secrets Manager secret holds at most ${MAX_SECRET_BYTES}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (error) {
    throw new SpecError(`proxy.config.file: ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = proxyFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    throw new SpecError(`proxy.config.file: ${file} is not a valid proxy config (see deploy/proxy.example.json): ${problems.join('; ')}`);
  }
  return content;
}
