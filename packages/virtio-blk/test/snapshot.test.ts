import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { MemoryBackend, OverlayBackend } from '../src/index.js';
import { FileBackend } from '../src/node.js';

const dir = mkdtempSync(path.join(tmpdir(), 'blk-snap-'));
process.env.VDESK_CACHE = path.join(dir, 'cache');

const read = async (b: { read(o: number, d: Uint8Array): Promise<void> }, off: number, n: number) => {
  const d = new Uint8Array(n);
  await b.read(off, d);
  return d;
};

describe('virtio-blk backend snapshots', () => {
  it('a copy-on-write overlay carries its blocks and references its base by content hash', async () => {
    const img = path.join(dir, 'base.img');
    writeFileSync(img, new Uint8Array(1 << 20).fill(0x11));
    const a = new OverlayBackend(await FileBackend.open(img, { readOnly: true, noLock: true }));
    await a.write(4096, new Uint8Array(100).fill(0x22));
    await a.writeZeroes(65536, 8192);
    await a.prepareSnapshot();
    const s = a.saveState();
    const b = new OverlayBackend(await FileBackend.open(img, { readOnly: true, noLock: true }));
    await b.restoreState(s);
    expect(await read(b, 4096, 200)).toEqual(await read(a, 4096, 200));
    expect((await read(b, 65536, 8192)).every((x) => x === 0)).toBe(true);
    expect((await read(b, 0, 16)).every((x) => x === 0x11)).toBe(true);
    // The base changes: the restore is refused with one line naming the image.
    writeFileSync(img, new Uint8Array(1 << 20).fill(0x12));
    const c = new OverlayBackend(await FileBackend.open(img, { readOnly: true, noLock: true }));
    await expect(c.restoreState(s)).rejects.toThrow(/base\.img changed since the snapshot was taken/);
  });

  it('a memory disk carries its contents; an image written in place is refused', async () => {
    const a = new MemoryBackend({ size: 1 << 20 });
    await a.write(512, new Uint8Array(512).fill(9));
    const b = new MemoryBackend({ size: 1 << 20 });
    await b.restoreState(a.saveState());
    expect(await read(b, 512, 512)).toEqual(new Uint8Array(512).fill(9));
    const img = path.join(dir, 'rw.img');
    writeFileSync(img, new Uint8Array(4096));
    const rw = await FileBackend.open(img, { noLock: true });
    await expect(rw.prepareSnapshot()).rejects.toThrow(SnapshotError);
    expect(() => rw.saveState()).toThrow(/written in place/);
    await rw.close();
  });
});
