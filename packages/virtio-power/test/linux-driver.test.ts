/**
 * Builds guest/linux/virtio_power against the guest kernel that guest/build.sh built, with -Werror.
 * Run with `pnpm --filter @virtio-desktop/virtio-power test:driver`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** VDESK_KBUILD names a kernel build directory directly; otherwise ask guest/build.sh. */
function kbuildDir(): string {
  if (process.env.VDESK_KBUILD) return process.env.VDESK_KBUILD;
  const r = spawnSync('bash', [join(ROOT, 'guest/build.sh'), '--print-paths'], { encoding: 'utf8' });
  const m = /^KBUILD=(.+)$/m.exec(r.stdout);
  if (r.status !== 0 || !m)
    throw new Error(
      `no built guest kernel: 'guest/build.sh --print-paths' exited ${r.status} (${r.stderr.trim()}); ` +
        'run guest/build.sh first',
    );
  return m[1].trim();
}

describe('virtio_power.ko', () => {
  it('builds out of tree against the guest kernel with -Werror and matches device 63', () => {
    const kbuild = kbuildDir();
    const out = mkdtempSync(join(tmpdir(), 'vpower-ko-'));
    try {
      const r = spawnSync('bash', [join(ROOT, 'guest/linux/virtio_power/build.sh'), kbuild, out], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr.slice(-4000)).toBe(0);
      const ko = /^KO=(.+)$/m.exec(r.stdout)?.[1];
      expect(ko).toBe(join(out, 'virtio_power.ko'));
      const bin = readFileSync(ko!).toString('latin1');
      expect(bin).toContain('alias=virtio:d0000003Fv*');
      const release = readFileSync(join(kbuild, 'include/config/kernel.release'), 'utf8').trim();
      expect(bin).toContain(`vermagic=${release} `);
      // The repository stays clean: nothing was built next to the sources.
      const st = spawnSync('git', ['status', '--porcelain', '--ignored', 'guest/linux/virtio_power'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      const stray = st.stdout.split('\n').filter((l) => l.startsWith('??') || l.startsWith('!!'));
      expect(stray).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
