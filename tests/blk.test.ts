/**
 * virtio-blk end to end with the real guest: a filesystem and its files survive a power cycle bit for bit,
 * discard and write-zeroes requests from Linux reach the backend, a copy-on-write overlay leaves its base
 * image untouched, and a read-only disk refuses writes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, startVdesk, vdesk, type GuestImages } from './guest.js';

let img: GuestImages;
let dir: string;
beforeAll(() => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-blk-'));
});

function manifest(name: string, disk: Record<string, unknown>): string {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(
    f,
    JSON.stringify({
      name,
      memory: '256M',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-blk', id: 'disk', options: disk },
      ],
    }),
  );
  return f;
}

const runArgs = (m: string, script: string) => [
  'run',
  m,
  '--kernel',
  img.kernel,
  '--initrd',
  img.initrd,
  '--no-viewer',
  '--append',
  `console=ttyS0 ${guestCommand(script)}`,
];

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('virtio-blk with Linux', () => {
  it('files on an ext2 filesystem survive a power cycle bit for bit', async () => {
    writeFileSync(path.join(dir, 'fs.img'), Buffer.alloc(16 << 20));
    const m = manifest('blkfs', { image: 'fs.img' });
    const write = [
      'mkfs.ext2 -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt',
      'dd if=/dev/urandom of=/mnt/big bs=64k count=48 2>/dev/null',
      'mkdir /mnt/d && for i in 1 2 3 4 5; do echo file-$i > /mnt/d/f$i; done',
      'echo SUM1=$(cat /mnt/big /mnt/d/* | md5sum)',
      'umount /mnt && echo UNMOUNTED',
    ].join(' && ');
    const a = await vdesk(runArgs(m, write));
    expect(a.stdout).toContain('UNMOUNTED');
    expect(a.code).toBe(0);
    const sum1 = /SUM1=(\w+)/.exec(a.stdout)?.[1];
    expect(sum1).toMatch(/^[0-9a-f]{32}$/);

    const read = 'mkdir -p /mnt && mount /dev/vda /mnt && echo SUM2=$(cat /mnt/big /mnt/d/* | md5sum)';
    const b = await vdesk(runArgs(m, read));
    expect(b.stdout).toContain(`SUM2=${sum1}`);
    expect(b.code).toBe(0);
  });

  it('discard and write-zeroes from Linux reach the backend', async () => {
    const image = path.join(dir, 'ops.img');
    writeFileSync(image, Buffer.alloc(4 << 20, 0xaa));
    const m = manifest('blkops', { image: 'ops.img' });
    const script =
      'blkops discard /dev/vda 0 65536 && blkops zeroout /dev/vda 65536 131072 && echo BLK-DONE && sleep 600';
    const a = startVdesk(runArgs(m, script), 'BLK-DONE');
    await a.ready;
    const s = await vdesk(['status', '--machine', 'blkops']);
    const disk = (
      JSON.parse(s.stdout) as { devices: { id: string; stats?: Record<string, number> }[] }
    ).devices.find((d) => d.id === 'disk');
    expect(disk?.stats?.discards).toBeGreaterThanOrEqual(1);
    expect(disk?.stats?.writeZeroes).toBeGreaterThanOrEqual(1);
    await vdesk(['shutdown', '--machine', 'blkops']);
    expect(await a.exited).toBe(0);
    const after = readFileSync(image);
    expect(after.subarray(65536, 65536 + 131072).every((b) => b === 0)).toBe(true);
    expect(after.subarray(65536 + 131072).every((b) => b === 0xaa)).toBe(true);
  });

  it('an overlay takes the guest writes and leaves its base image untouched', async () => {
    const base = path.join(dir, 'base.img');
    writeFileSync(base, Buffer.concat([Buffer.from('BASE-DATA'), Buffer.alloc((1 << 20) - 9)]));
    const before = sha(readFileSync(base));
    const m = manifest('blkcow', { image: 'base.img', overlay: true });
    const script = [
      'printf OVERLAID | dd of=/dev/vda bs=8 count=1 conv=fsync 2>/dev/null',
      'echo 3 > /proc/sys/vm/drop_caches',
      'echo READ=$(dd if=/dev/vda bs=8 count=1 iflag=direct 2>/dev/null)',
    ].join(' && ');
    const r = await vdesk(runArgs(m, script));
    expect(r.stdout).toContain('READ=OVERLAID');
    expect(r.code).toBe(0);
    expect(sha(readFileSync(base))).toBe(before);
  });

  it('a read-only disk refuses writes and keeps its image', async () => {
    const image = path.join(dir, 'ro.img');
    writeFileSync(image, Buffer.alloc(1 << 20, 0x55));
    const before = sha(readFileSync(image));
    const m = manifest('blkro', { image: 'ro.img', readOnly: true });
    const script =
      'echo RO=$(cat /sys/block/vda/ro); printf X | dd of=/dev/vda bs=1 count=1 conv=fsync 2>/dev/null; echo WRITE-RC=$?';
    const r = await vdesk(runArgs(m, script));
    expect(r.stdout).toContain('RO=1');
    expect(r.stdout).toMatch(/WRITE-RC=[1-9]/);
    expect(sha(readFileSync(image))).toBe(before);
  });
});
