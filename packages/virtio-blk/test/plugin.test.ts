import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginOptionError, Ram, isDevicePlugin, silentLogger } from '@virtio-desktop/virtio-core';
import plugin, { MemoryBackend, OverlayBackend, parseSize } from '../src/index.js';
import { FileBackend } from '../src/node.js';
import { pattern, same } from './helpers.js';

const ctx = (baseDir?: string) => ({ memory: new Ram(0x8000_0000, 4096), log: silentLogger, baseDir });

describe('virtio-blk plugin options', () => {
  it('is a device plugin named virtio-blk', () => {
    expect(isDevicePlugin(plugin)).toBe(true);
    expect(plugin.name).toBe('virtio-blk');
  });

  it('parses sizes', () => {
    expect(parseSize('64M')).toBe(64 << 20);
    expect(parseSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseSize('512KiB')).toBe(512 << 10);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(1 << 20)).toBe(1 << 20);
  });

  const bad: [unknown, RegExp][] = [
    [undefined, /set "size".*or "image"/],
    [{}, /set "size"/],
    [[], /options must be an object/],
    [{ size: '64X' }, /option "size": "64X" is not a size: use bytes or e.g. "512M", "1.5G"/],
    [{ size: 1000 }, /multiple of 512/],
    [{ size: -512 }, /option "size": -512 is negative/],
    [{ size: '0' }, /positive/],
    [{ size: true }, /number of bytes/],
    [{ size: '64M', sise: 1 }, /unknown option "sise"/],
    [{ size: '64M', blockSize: 1000 }, /blockSize/],
    [{ size: '64M', blockSize: 8192 }, /blockSize/],
    [{ size: 512 * 3, blockSize: 1024 }, /multiple of blockSize/],
    [{ size: '64M', serial: 'x'.repeat(21) }, /serial/],
    [{ size: '64M', serial: 'héllo' }, /serial/],
    [{ size: '64M', readOnly: 'yes' }, /readOnly/],
    [{ size: '64M', overlay: true }, /overlay.*needs "image"/],
    [{ image: 'a.img', overlay: true, readOnly: true }, /exclude/],
    [{ image: '' }, /non-empty/],
    [{ image: 3 }, /"image" must be a string/],
  ];
  for (const [raw, msg] of bad) {
    it(`rejects ${JSON.stringify(raw)} with one clear line`, () => {
      let err: unknown;
      try {
        plugin.parseOptions(raw);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PluginOptionError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe('virtio-blk plugin devices', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('creates a RAM disk', async () => {
    const dev = await plugin.create(
      plugin.parseOptions({ size: '64M', serial: 'ram0', blockSize: 4096 }),
      ctx(),
    );
    expect(dev.backend).toBeInstanceOf(MemoryBackend);
    expect(dev.capacity).toBe((64 << 20) / 512);
    expect(dev.blockSize).toBe(4096);
    expect(dev.readOnly).toBe(false);
  });

  it('opens an image relative to the manifest directory, loading the Node backend on demand', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vblk-plugin-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'base.img'), pattern(65536, 4));
    const dev = await plugin.create(plugin.parseOptions({ image: 'base.img' }), ctx(dir));
    expect(dev.backend).toBeInstanceOf(FileBackend);
    expect(dev.capacity).toBe(128);
    await dev.close();

    const ro = await plugin.create(plugin.parseOptions({ image: 'base.img', readOnly: true }), ctx(dir));
    expect(ro.readOnly).toBe(true);
    await ro.close();

    // Overlay: writable device, file untouched.
    const ov = await plugin.create(plugin.parseOptions({ image: 'base.img', overlay: true }), ctx(dir));
    expect(ov.backend).toBeInstanceOf(OverlayBackend);
    expect(ov.readOnly).toBe(false);
    await ov.backend.write(0, new Uint8Array(4096).fill(9));
    const back = new Uint8Array(4096);
    await ov.backend.read(0, back);
    expect(back.every((x) => x === 9)).toBe(true);
    await ov.close();
    expect(same(await readFile(path.join(dir, 'base.img')), pattern(65536, 4))).toBe(true);

    // size creates a missing image.
    const made = await plugin.create(plugin.parseOptions({ image: 'new.img', size: '1M' }), ctx(dir));
    expect(made.capacity).toBe(2048);
    await made.close();
    expect((await readFile(path.join(dir, 'new.img'))).length).toBe(1 << 20);

    await expect(plugin.create(plugin.parseOptions({ image: 'missing.img' }), ctx(dir))).rejects.toThrow(
      /does not exist/,
    );
  });
});
