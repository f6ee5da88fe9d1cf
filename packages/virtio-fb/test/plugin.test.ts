import { describe, expect, it } from 'vitest';
import { PluginOptionError, Ram, isDevicePlugin, silentLogger } from '@virtio-desktop/virtio-core';
import plugin, { VirtioGpuDevice, parseByteSize } from '../src/index.js';

describe('virtio-fb plugin', () => {
  it('is a DevicePlugin named virtio-fb with sensible defaults', () => {
    expect(isDevicePlugin(plugin)).toBe(true);
    expect(plugin.name).toBe('virtio-fb');
    expect(plugin.parseOptions(undefined)).toEqual({
      width: 1280,
      height: 800,
      maxResourceMemory: 256 * 1024 * 1024,
    });
  });

  it('parses sizes with units', () => {
    expect(plugin.parseOptions({ maxResourceMemory: '64M' }).maxResourceMemory).toBe(64 << 20);
    expect(plugin.parseOptions({ maxResourceMemory: '1G' }).maxResourceMemory).toBe(1 << 30);
    expect(plugin.parseOptions({ maxResourceMemory: '512MiB' }).maxResourceMemory).toBe(512 << 20);
    expect(plugin.parseOptions({ maxResourceMemory: 16 << 20 }).maxResourceMemory).toBe(16 << 20);
    expect(parseByteSize('12kb')).toBe(12 * 1024);
    // virtio-core's one size rule: fractions are fine when they make whole bytes.
    expect(parseByteSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseByteSize('0.3K')).toBeNull();
    expect(parseByteSize(-1)).toBeNull();
  });

  it('rejects bad options with one line a user can act on', () => {
    const bad: unknown[] = [
      { width: 100 },
      { height: 5000 },
      { width: '1280' },
      { maxResourceMemory: 'lots' },
      { maxResourceMemory: '100K' },
      { maxResourceMemory: '17G' },
      { maxResourceMemory: '2M', width: 1920, height: 1080 },
      { colour: 'blue' },
      [],
    ];
    for (const raw of bad) {
      let err: unknown;
      try {
        plugin.parseOptions(raw);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(raw)).toBeInstanceOf(PluginOptionError);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('creates a device with the options', async () => {
    const dev = await plugin.create(
      plugin.parseOptions({ width: 1024, height: 768, maxResourceMemory: '32M' }),
      {
        memory: new Ram(0x8000_0000, 4096),
        log: silentLogger,
      },
    );
    expect(dev).toBeInstanceOf(VirtioGpuDevice);
    expect(dev.deviceId).toBe(16);
    expect(dev.displaySize).toEqual({ width: 1024, height: 768 });
    expect(dev.maxResourceMemory).toBe(32 << 20);
  });
});
