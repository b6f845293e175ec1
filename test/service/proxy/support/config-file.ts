// Writes a PROXY_CONFIG_FILE for a test into a temporary folder and returns its path.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function writeProxyConfig(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'proxy-config-')), 'proxy.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
