/**
 * The Linux driver against the real guest kernel: it builds out of tree with -Werror, and it loads and
 * unloads cleanly in that kernel under QEMU's riscv64 virt machine (which has no virtio-power, so this
 * checks module linkage, registration and clean removal; the device paths are covered by booting a
 * virtio-desktop machine). Run with `pnpm --filter @virtio-desktop/virtio-power test:driver`.
 *
 * Inputs come from `guest/build.sh --print-paths`, or from VDESK_KBUILD / VDESK_KERNEL / VDESK_INITRD.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VIRTIO_ID_POWER } from '../src/protocol.js';

const ROOT = resolve(import.meta.dirname, '../../..');

function guestPaths(): { kbuild: string; kernel: string; initrd: string } {
  const env = process.env;
  if (env.VDESK_KBUILD && env.VDESK_KERNEL && env.VDESK_INITRD)
    return { kbuild: env.VDESK_KBUILD, kernel: env.VDESK_KERNEL, initrd: env.VDESK_INITRD };
  const r = spawnSync('bash', [join(ROOT, 'guest/build.sh'), '--print-paths'], { encoding: 'utf8' });
  const get = (k: string) => new RegExp(`^${k}=(.+)$`, 'm').exec(r.stdout)?.[1].trim();
  const kbuild = env.VDESK_KBUILD ?? get('KBUILD');
  const kernel = env.VDESK_KERNEL ?? get('KERNEL');
  const initrd = env.VDESK_INITRD ?? get('INITRD');
  if (!kbuild || !kernel || !initrd)
    throw new Error(
      `no built guest kernel: 'guest/build.sh --print-paths' exited ${r.status} (${r.stderr.trim()}); ` +
        'run guest/build.sh first',
    );
  return { kbuild, kernel, initrd };
}

const work = mkdtempSync(join(tmpdir(), 'vpower-ko-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('virtio_power.ko', () => {
  let ko = '';
  const paths = guestPaths();

  it('builds out of tree against the guest kernel with -Werror and matches VIRTIO_ID_POWER', () => {
    const out = join(work, 'out');
    const r = spawnSync('bash', [join(ROOT, 'guest/linux/virtio_power/build.sh'), paths.kbuild, out], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr.slice(-4000)).toBe(0);
    ko = /^KO=(.+)$/m.exec(r.stdout)?.[1] ?? '';
    expect(ko).toBe(join(out, 'virtio_power.ko'));
    const bin = readFileSync(ko).toString('latin1');
    const alias = `alias=virtio:d${VIRTIO_ID_POWER.toString(16).toUpperCase().padStart(8, '0')}v*`;
    expect(alias).toBe('alias=virtio:d0000003Av*');
    expect(bin).toContain(alias);
    const release = readFileSync(join(paths.kbuild, 'include/config/kernel.release'), 'utf8').trim();
    expect(bin).toContain(`vermagic=${release} `);
    // The repository stays clean: nothing was built next to the sources.
    const st = spawnSync('git', ['status', '--porcelain', '--ignored', 'guest/linux/virtio_power'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const stray = st.stdout.split('\n').filter((l) => l.startsWith('??') || l.startsWith('!!'));
    expect(stray).toEqual([]);
  });

  it('is checkpatch --strict clean (the kernel tree the guest was built from)', () => {
    const checkpatch = join(paths.kbuild, '../src/scripts/checkpatch.pl');
    const r = spawnSync(
      'perl',
      [checkpatch, '--no-tree', '--strict', '-f', join(ROOT, 'guest/linux/virtio_power/virtio_power.c')],
      { encoding: 'utf8' },
    );
    expect(r.stdout, r.stdout.slice(-4000)).toMatch(/total: 0 errors, 0 warnings, 0 checks/);
  });

  it('loads, registers the virtio driver and unloads cleanly, twice', () => {
    expect(ko, 'the build test must pass first').not.toBe('');
    const q = spawnSync('qemu-system-riscv64', ['--version'], { encoding: 'utf8' });
    if (q.status !== 0) throw new Error('qemu-system-riscv64 not found (apt-get install qemu-system-misc)');
    // A second cpio appended to the guest's initramfs adds the module; the kernel unpacks both.
    const extra = join(work, 'extra');
    mkdirSync(extra, { recursive: true });
    copyFileSync(ko, join(extra, 'virtio_power.ko'));
    const cpio = spawnSync('sh', ['-c', 'echo virtio_power.ko | cpio -o -H newc | gzip'], {
      cwd: extra,
      maxBuffer: 64 << 20,
    });
    expect(cpio.status).toBe(0);
    const initrd = join(work, 'initrd.cpio.gz');
    writeFileSync(initrd, Buffer.concat([readFileSync(paths.initrd), cpio.stdout]));
    const script = [
      // The test image's /init loads the module at boot; start from a kernel without it.
      'rmmod virtio_power 2>/dev/null',
      'insmod /virtio_power.ko; echo "INSMOD=$?"',
      'test -d /sys/bus/virtio/drivers/virtio_power && echo DRIVER-REGISTERED',
      'rmmod virtio_power; echo "RMMOD=$?"',
      'test -d /sys/bus/virtio/drivers/virtio_power || echo DRIVER-GONE',
      'insmod /virtio_power.ko && rmmod virtio_power; echo "RELOAD=$?"',
    ].join('\n');
    const r = spawnSync(
      'timeout',
      [
        '180',
        'qemu-system-riscv64',
        ...['-M', 'virt', '-m', '256', '-nographic', '-no-reboot'],
        ...['-kernel', paths.kernel, '-initrd', initrd],
        ...['-append', `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`],
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const log = r.stdout + r.stderr;
    expect(log, log.slice(-3000)).toContain('INSMOD=0');
    expect(log).toContain('DRIVER-REGISTERED');
    expect(log).toContain('RMMOD=0');
    expect(log).toContain('DRIVER-GONE');
    expect(log).toContain('RELOAD=0');
    expect(log).not.toMatch(/Oops|BUG:|WARNING:|Call Trace/);
  });
});
