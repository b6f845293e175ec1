// Second step of `npm run build` (after tsc): copies the files the service reads at run time that are not
// TypeScript (pages, JSON data) from service/ into the build output beside the compiled modules, so code
// that finds them next to itself (`join(__dirname, ...)`) works the same under tsx and from dist/.
import { cpSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';

/** Source files the compiler already turned into .js (and their declarations); everything else is an asset. */
const COMPILED = new Set(['.ts', '.mts', '.cts']);

/** Copies every non-TypeScript file under `sourceDir` into `outDir`, keeping relative paths. */
export function copyAssets(sourceDir: string, outDir: string): void {
  cpSync(sourceDir, outDir, {
    recursive: true,
    filter: (path) => !COMPILED.has(extname(path)),
  });
}

if (require.main === module) {
  // This file runs as <outDir>/scripts/build-assets.js; npm runs it in the package root.
  const outDir = resolve(__dirname, '..');
  copyAssets(join(process.cwd(), 'service'), join(outDir, 'service'));
}
