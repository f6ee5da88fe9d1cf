/**
 * The platform end to end: a real Linux 6.12 kernel and busybox userland (built from Debian sources by
 * guest/build.sh) boot on our CPU to the init marker, run commands, and power off through SBI SRST, with
 * the host SBI and with Debian's OpenSBI in M-mode; SMP; on the CPU's reference loop as well as its
 * decoded-instruction cache; a repeatable run; and the same images on QEMU.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPENSBI, bootScript, guestImages, root, vdesk, type GuestImages } from './guest.js';

let img: GuestImages;
beforeAll(() => {
  img = guestImages();
});

const SCRIPT =
  'uname -a; echo harts=$(nproc); grep -m1 "^isa" /proc/cpuinfo; echo answer=$((6*7)); cat /proc/cmdline; ' +
  'dmesg | grep -m1 "crng init"';

function boot(extra: string[], script = SCRIPT, env?: Record<string, string>) {
  return bootScript(img, script, extra, env ? { env } : {});
}

describe('Linux on virtio-desktop', () => {
  it('boots to the init marker, runs commands and powers off with status 0 (host SBI)', async () => {
    const r = await boot(['--cpus', '1']);
    expect(r.stdout).toContain('VDESK-INIT-READY');
    expect(r.stdout).toMatch(/Linux vdesk 6\.12\.\d+ .* riscv64 GNU\/Linux/);
    expect(r.stdout).toContain('harts=1');
    expect(r.stdout).toMatch(/isa\s+: rv64imafdc/);
    expect(r.stdout).toContain('answer=42');
    expect(r.stdout).toContain('VDESK-CMD-EXIT=0');
    expect(r.stdout).toContain('reboot: Power down');
    // Seeded from the device tree's /chosen/rng-seed before anything runs (no wait for jitter entropy).
    expect(r.stdout).toMatch(/\[\s*0\.000000\] random: crng init done/);
    expect(r.code).toBe(0);
  });

  it('boots on the reference loop too (--cpu reference, no decoded-instruction cache), 2 harts', async () => {
    const r = await boot(['--cpus', '2', '--cpu', 'reference', '--log-level', 'info']);
    expect(r.stderr).toContain('cpu: reference engine');
    expect(r.stdout).toContain('VDESK-INIT-READY');
    expect(r.stdout).toContain('harts=2');
    expect(r.stdout).toContain('answer=42');
    expect(r.code).toBe(0);
  });

  it('brings up 4 harts with SBI HSM', async () => {
    const r = await boot(['--cpus', '4'], 'echo harts=$(nproc); cat /sys/devices/system/cpu/online');
    expect(r.stdout).toContain('harts=4');
    expect(r.stdout).toContain('0-3');
    expect(r.code).toBe(0);
  });

  it("boots through Debian's OpenSBI (fw_dynamic) in M-mode and powers off through it", async () => {
    if (!existsSync(OPENSBI))
      throw new Error(`${OPENSBI} missing: apt-get install opensbi (scripts/setup.sh does)`);
    const r = await boot(['--cpus', '2', '--firmware', OPENSBI]);
    expect(r.stdout).toContain('OpenSBI v');
    expect(r.stdout).toContain('Platform Shutdown Device  : sifive_test');
    expect(r.stdout).toContain('harts=2');
    expect(r.stdout).toContain('answer=42');
    expect(r.code).toBe(0);
  });

  it('repeats exactly with the instruction clock: two runs, the same console transcript', async () => {
    const a = await boot(['--cpus', '2', '--clock', 'instructions']);
    const b = await boot(['--cpus', '2', '--clock', 'instructions']);
    expect(a.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(1000);
    expect(b.stdout).toBe(a.stdout);
  });

  it('takes console input: an interactive shell, then poweroff', async () => {
    const r = await vdesk(
      ['run', '--kernel', img.kernel, '--initrd', img.initrd, '--append', 'console=ttyS0'],
      { waitFor: 'VDESK-INIT-READY', input: 'echo typed-$((20+22))\npoweroff -f\n' },
    );
    expect(r.stdout).toContain('typed-42');
    expect(r.code).toBe(0);
  });

  it('the same images boot on qemu-system-riscv64 -M virt (the reference machine)', () => {
    const out = execFileSync('bash', [path.join(root, 'guest/qemu-smoke.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toMatch(/ok|pass/i);
  });
});

describe('the code cache (the JIT profile of the last run of the same kernel and initrd)', () => {
  it('(--code-cache) is saved at power-off, used by the next boot, survives a damaged file; off without the flag', async () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'vdesk-code-cache-'));
    try {
      const run = (extra = ['--code-cache']) =>
        boot(['--cpus', '1', '--log-level', 'info', ...extra], 'echo answer=$((6*7))', {
          VDESK_CACHE: cache,
        });
      const files = (): string[] =>
        existsSync(path.join(cache, 'jit')) ? readdirSync(path.join(cache, 'jit')) : [];
      const cold = await run([]);
      expect(cold.stdout).toContain('answer=42');
      expect(files()).toEqual([]);
      const first = await run();
      expect(first.stdout).toContain('answer=42');
      expect(first.stderr).toMatch(/code cache: saved .*\.prof/);
      expect(first.stderr).not.toMatch(/code cache: .*\(\d+ bytes\)/);
      expect(files()).toHaveLength(1);
      const warm = await run();
      expect(warm.stderr).toMatch(/code cache: .*\.prof \([1-9]\d+ bytes\)/);
      expect(warm.stdout).toContain('answer=42');
      expect(warm.code).toBe(0);
      // Garbage with the right header: positions that are not code, odd or outside RAM.
      const bad = Buffer.alloc(8 + 4096);
      bad.writeUInt32LE(0x50434456, 0);
      bad.writeUInt32LE(1, 4);
      for (let i = 8; i < bad.length; i += 4) bad.writeUInt32LE((i * 2654435761) >>> 0, i);
      writeFileSync(path.join(cache, 'jit', files()[0]), bad);
      const damaged = await run();
      expect(damaged.stdout).toContain('answer=42');
      expect(damaged.code).toBe(0);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
