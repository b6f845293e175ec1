// What the WebGPU execution provider needs from the host on Linux, checked by name: the Vulkan
// loader (libvulkan.so.1), an ICD json naming a driver, and an adapter that driver offers. Turns
// onnxruntime's raw failure ("No supported adapters") into a message saying which one is missing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VULKAN_LOADER = 'libvulkan.so.1';

export interface VulkanHost {
  /** The loader's file name, as dlopen searches for it. @default VULKAN_LOADER */
  readonly loader?: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Where the Vulkan loader looks for ICD json files when VK_DRIVER_FILES / VK_ICD_FILENAMES are unset. */
function icdFolders(env: NodeJS.ProcessEnv): string[] {
  const data = (env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':').filter(Boolean);
  return ['/etc/vulkan/icd.d', ...data.map((dir) => join(dir, 'vulkan', 'icd.d'))];
}

/** The ICD json files the loader would read. */
export function vulkanDriverFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  if (listed !== undefined) return listed.split(':').filter((file) => file !== '' && existsSync(file));
  return icdFolders(env).flatMap((folder) => {
    try {
      return readdirSync(folder)
        .filter((name) => name.endsWith('.json'))
        .map((name) => join(folder, name));
    } catch {
      return [];
    }
  });
}

/**
 * Whether the dynamic linker finds the loader where the WebGPU EP (Dawn) will look for it: loading it
 * as a Node addon fails with "did not self-register" once the file was found and loaded, and with
 * "cannot open shared object file" when it was not.
 */
export function vulkanLoaderLoads(loader: string = VULKAN_LOADER): boolean {
  try {
    process.dlopen({ exports: {} }, loader);
    return true;
  } catch (error) {
    return !/cannot open shared object file|No such file/i.test(error instanceof Error ? error.message : String(error));
  }
}

const ICD_HINT =
  'On an NVIDIA host the ICD is nvidia_icd.json naming libGLX_nvidia.so.0, which the NVIDIA container toolkit mounts only with NVIDIA_DRIVER_CAPABILITIES including graphics (the gpu image sets compute,utility,graphics); on a machine without a GPU, Mesa\'s lavapipe (apt-get install -t bookworm-backports mesa-vulkan-drivers) provides one';

/** The missing piece before a WebGPU session is created (loader, ICD), or undefined when both are there. */
export function missingVulkanPiece(host: VulkanHost = {}): string | undefined {
  const loader = host.loader ?? VULKAN_LOADER;
  const env = host.env ?? process.env;
  if (!vulkanLoaderLoads(loader)) {
    return `EXECUTION_PROVIDER=webgpu needs the Vulkan loader ${loader}, which the dynamic linker does not find: install it (Debian/Ubuntu: apt-get install libvulkan1) or set EXECUTION_PROVIDER=cpu`;
  }
  if (vulkanDriverFiles(env).length === 0) {
    const where = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
    const looked = where !== undefined ? `VK_DRIVER_FILES/VK_ICD_FILENAMES=${where} names no existing file` : `no ICD json in ${icdFolders(env).join(', ')}`;
    return `EXECUTION_PROVIDER=webgpu found the Vulkan loader but no Vulkan driver (ICD json): ${looked}. ${ICD_HINT}`;
  }
  return undefined;
}

/** ICD files whose driver library cannot be loaded, as `file -> library`. */
function unloadableDrivers(files: readonly string[]): string[] {
  return files.flatMap((file) => {
    try {
      const library = (JSON.parse(readFileSync(file, 'utf8')) as { ICD?: { library_path?: unknown } }).ICD?.library_path;
      if (typeof library !== 'string') return [`${file} names no ICD.library_path`];
      const path = library.includes('/') && !library.startsWith('/') ? join(file, '..', library) : library;
      return vulkanLoaderLoads(path) ? [] : [`${file} -> ${library} (not found)`];
    } catch {
      return [`${file} (not readable JSON)`];
    }
  });
}

/** onnxruntime's failure to create a WebGPU session, said as what is missing. */
export function explainWebGpuFailure(reason: string, host: VulkanHost = {}): string {
  const missing = missingVulkanPiece(host);
  if (missing) return `${missing} (onnxruntime said: ${reason})`;
  const drivers = vulkanDriverFiles(host.env ?? process.env);
  if (/adapter/i.test(reason)) {
    const said = reason.trim().split('\n').at(-1)?.replace(/^.*?(Failed to get a WebGPU adapter)/, '$1');
    const broken = unloadableDrivers(drivers);
    const why = broken.length > 0 ? `driver libraries that do not load: ${broken.join('; ')}` : 'the driver may be too old (Mesa before 25 lacks features Dawn requires)';
    return `EXECUTION_PROVIDER=webgpu: the Vulkan loader and driver files (${drivers.join(', ')}) are there, but no Vulkan adapter is usable (onnxruntime: ${said}); ${why}. ${ICD_HINT}`;
  }
  return `EXECUTION_PROVIDER=webgpu: onnxruntime could not create a WebGPU session (${reason}); Vulkan driver files: ${drivers.join(', ')}`;
}
