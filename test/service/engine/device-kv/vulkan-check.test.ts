import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainWebGpuFailure, missingVulkanPiece, vulkanDriverFiles } from '../../../../service/engine/device-kv/vulkan-check';
import { tinyModelDir } from '../../../support/models';
import { startService } from '../../../support/service-process';

// The start-up check of EXECUTION_PROVIDER=webgpu: a host without the Vulkan loader, without a driver
// json, or whose driver offers no adapter gets a message naming that piece, not onnxruntime's.

const folder = mkdtempSync(join(tmpdir(), 'vulkan-check-'));
/** An ICD json naming a driver library that is not there (an NVIDIA ICD without the graphics capability mounted). */
const brokenIcd = join(folder, 'nvidia_icd.json');
writeFileSync(brokenIcd, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: '/nonexistent/libGLX_nvidia.so.0', api_version: '1.3.0' } }));

describe('vulkan check', () => {
  it('names the loader when the dynamic linker cannot find it', () => {
    expect(missingVulkanPiece({ loader: 'libvulkan-not-installed.so.1' })).toMatch(/needs the Vulkan loader libvulkan-not-installed\.so\.1.*apt-get install libvulkan1/);
  });

  it('lists the ICD jsons VK_DRIVER_FILES names, and names the variable when none exists', () => {
    expect(vulkanDriverFiles({ VK_DRIVER_FILES: `${brokenIcd}:${join(folder, 'missing.json')}` })).toEqual([brokenIcd]);
    expect(missingVulkanPiece({ env: { VK_DRIVER_FILES: join(folder, 'missing.json') } })).toMatch(/no Vulkan driver \(ICD json\): VK_DRIVER_FILES.*names no existing file.*nvidia_icd\.json.*graphics/);
  });

  it('names the driver library an ICD json points at when no adapter comes up', () => {
    const message = explainWebGpuFailure('Failed to get a WebGPU adapter: No supported adapters', { env: { VK_DRIVER_FILES: brokenIcd } });
    expect(message).toMatch(/no Vulkan adapter is usable/);
    expect(message).toContain(`${brokenIcd} -> /nonexistent/libGLX_nvidia.so.0 (not found)`);
  });

  it.each([
    ['no driver json', join(folder, 'missing.json'), /cannot load the model: EXECUTION_PROVIDER=webgpu found the Vulkan loader but no Vulkan driver \(ICD json\)/],
    ['a driver json whose library is missing', brokenIcd, /cannot load the model: EXECUTION_PROVIDER=webgpu: .*no Vulkan adapter is usable.*libGLX_nvidia\.so\.0 \(not found\)/],
  ])('the service stops at start-up with %s, saying so', async (_, driverFiles, message) => {
    const service = startService({ EXECUTION_PROVIDER: 'webgpu', MODEL_DIR: await tinyModelDir(), VK_DRIVER_FILES: driverFiles });
    expect(await service.exited).toBe(1);
    expect(service.output()).toMatch(message);
  });
});
