/**
 * Issue 18: snapshots of a running machine with the real guest. A shell guest writes a file, is saved
 * with `vdesk snapshot`, killed, and restored in a new process where it goes on (the file is there, new
 * commands run, its clock continued); with the instruction clock two restores of one snapshot fed the same
 * input print the same transcript; disk writes running across a snapshot land whole (checksum after a
 * remount) and the base image is never written; each kind of bad snapshot gets one line and changes
 * nothing on disk.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSnapshotFile } from '@virtio-desktop/machine';
import { nodeSnapshotCodec, readSnapshotFile } from '@virtio-desktop/machine/node';
import { decodeState, encodeState, type StateValue } from '@virtio-desktop/virtio-core';
import { guestImages, startVdesk, vdesk, type GuestImages, type RunningVdesk } from './guest.js';

let img: GuestImages;
let dir: string;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

beforeAll(() => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-snap-'));
  // Our own control sockets: machines of other tests or people never answer our `vdesk snapshot`.
  process.env.VDESK_RUNTIME_DIR = path.join(dir, 'run');
});

function manifest(name: string, extra: Record<string, unknown> = {}, disk?: Record<string, unknown>): string {
  const f = path.join(dir, `${name}.json`);
  const devices: unknown[] = [{ package: '@virtio-desktop/virtio-power' }];
  if (disk) devices.push({ package: '@virtio-desktop/virtio-blk', id: 'disk', options: disk });
  writeFileSync(
    f,
    JSON.stringify({
      name,
      memory: '256M',
      cpus: 2,
      devices,
      boot: { kernel: img.kernel, initrd: img.initrd, cmdline: 'console=ttyS0' },
      ...extra,
    }),
  );
  return f;
}

const boot = (m: string): RunningVdesk => startVdesk(['run', m, '--no-viewer'], 'VDESK-INIT-READY');
function restore(file: string, ...more: string[]): RunningVdesk {
  const v = startVdesk(['run', '--restore', file, '--no-viewer', ...more], 'VDESK-NEVER-PRINTED');
  v.ready.catch(() => {}); // a restored guest prints no boot marker: callers wait for their own
  return v;
}

/** Type a line into the guest shell and wait for `marker` in what follows. */
async function sh(
  v: RunningVdesk,
  line: string,
  marker: string | RegExp,
  timeoutMs = 120_000,
): Promise<string> {
  const from = v.out.text.length;
  v.p.stdin!.write(line + '\n');
  await v.waitFor(marker, from, timeoutMs);
  return v.out.text.slice(from);
}

async function kill(v: RunningVdesk): Promise<void> {
  v.p.kill('SIGKILL');
  await v.exited;
}

async function snapshot(file: string): Promise<string> {
  const r = await vdesk(['snapshot', file], { timeoutMs: 300_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

const uptime = (s: string): number => Number(/UP=([\d.]+)/.exec(s)?.[1]);

/** Copy snapshot `from` to `to` with its state tree changed by `change` (sections and checksum redone). */
async function rewriteState(from: string, to: string, change: (tree: Record<string, StateValue>) => void) {
  const snap = await readSnapshotFile(from);
  const raw = await Promise.all(snap.open(snap.header.ramSize).sections);
  const tree = decodeState(raw[0]) as Record<string, StateValue>;
  change(tree);
  raw[0] = encodeState(tree);
  const codec = nodeSnapshotCodec();
  const stored = await Promise.all(raw.map((p) => codec.compress(p)));
  const payload = Buffer.concat(stored);
  const header = {
    ...snap.header,
    rawBytes: raw.reduce((n, p) => n + p.length, 0),
    payloadBytes: payload.length,
    sections: raw.map((p, i) => ({ raw: p.length, stored: stored[i].length })),
    ramStoredBytes: stored.slice(1).reduce((n, p) => n + p.length, 0),
  };
  writeFileSync(to, writeSnapshotFile(header, payload, codec));
}

describe('snapshots with Linux', () => {
  let shellSnap: string;
  let diskSnap: string;
  let diskManifest: string;
  let baseImage: string;

  it('a shell guest is saved, killed, and continues in a new process: its file, new commands, its clock', async () => {
    const m = manifest('snap-shell');
    const a = boot(m);
    await a.ready;
    await sh(a, 'echo hello-from-before > /root/note; sync; echo WROTE-$((6*7))', 'WROTE-42');
    const before = uptime(await sh(a, 'echo UP=$(cut -d" " -f1 /proc/uptime)', /UP=[\d.]+/));
    shellSnap = path.join(dir, 'shell.vdsnap');
    const out = await snapshot(shellSnap);
    expect(out).toMatch(/shell\.vdsnap: [\d.]+ MiB \(guest RAM 256\.0 MiB, [\d.]+ MiB of it in use/);
    // The original keeps running after the snapshot.
    await sh(a, 'echo still-$((1+1))', 'still-2');
    await kill(a);
    await new Promise((r) => setTimeout(r, 3000)); // time on disk, which the guest must not see pass
    const t0 = performance.now();
    const b = restore(shellSnap);
    const cont = await sh(
      b,
      'cat /root/note; echo UP=$(cut -d" " -f1 /proc/uptime); echo again-$((3*3))',
      'again-9',
    );
    const hostS = (performance.now() - t0) / 1000;
    expect(cont).toContain('hello-from-before');
    expect(b.out.err).toMatch(/vdesk: restored .*shell\.vdsnap \(taken .*\) in \d+ ms/);
    const after = uptime(cont);
    // The time CSR continued: no jump backwards, and the 3 s the snapshot spent on disk did not pass.
    expect(after).toBeGreaterThanOrEqual(before);
    expect(after - before).toBeLessThan(hostS + 5);
    await sh(b, 'ls /root; echo listed-$((4+4))', 'listed-8');
    await kill(b);
  });

  it('with the instruction clock, two restores fed the same input print the same transcript', async () => {
    const m = manifest('snap-det', { clock: 'instructions' });
    const a = boot(m);
    await a.ready;
    // A loop whose output depends on guest time only, and that runs across the snapshot. Each round
    // is CPU-bound (a `sleep` would not do: an idle guest on the instruction clock skips to its next
    // timer deadline at once, so a sleeping loop can end before the snapshot is taken).
    await sh(
      a,
      '(for i in 1 2 3 4 5 6 7 8; do cat /proc/uptime; j=0; while [ $j -lt 20000 ]; do j=$((j+1)); done; done; ' +
        'echo LOOP-DONE) & echo LOOP-$((1))-STARTED',
      'LOOP-1-STARTED',
    );
    const file = path.join(dir, 'det.vdsnap');
    await snapshot(file);
    await kill(a);
    const transcript = async (): Promise<string> => {
      const v = restore(file);
      await v.waitFor('LOOP-DONE', 0, 180_000);
      await sh(v, 'echo fed-$((2+3)); cat /root/nothing 2>&1; echo END-$((7*6))', 'END-42');
      await kill(v);
      // Up to the last command's output: what follows (a job notice, the prompt) races the kill.
      return v.out.text.slice(0, v.out.text.indexOf('END-42') + 6);
    };
    const one = await transcript();
    const two = await transcript();
    expect(one.match(/^[\d.]+ [\d.]+\r?$/gm)?.length).toBeGreaterThanOrEqual(3);
    expect(two).toBe(one);
  });

  it('disk writes running across a snapshot land whole after the restore; the base image stays as it was', async () => {
    baseImage = path.join(dir, 'base.img');
    writeFileSync(baseImage, Buffer.alloc(32 << 20));
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', baseImage]);
    const baseSha = sha(baseImage);
    diskManifest = manifest('snap-disk', {}, { image: 'base.img', overlay: true });
    const a = boot(diskManifest);
    await a.ready;
    await sh(
      a,
      'mkdir -p /mnt && mount /dev/vda /mnt && dd if=/dev/urandom of=/tmp/src bs=64k count=160 2>/dev/null && ' +
        'md5sum < /tmp/src > /tmp/src.md5 && echo MOUNTED-$((2+2))',
      'MOUNTED-4',
    );
    // 40 synchronous 256 KiB writes: the snapshot falls among them.
    await sh(
      a,
      '(i=0; while [ $i -lt 40 ]; do dd if=/tmp/src of=/mnt/big bs=64k count=4 skip=$((i*4)) seek=$((i*4)) conv=notrunc,fsync 2>/dev/null; i=$((i+1)); done; echo COPY-DONE) & echo COPY-$((5))-STARTED',
      'COPY-5-STARTED',
    );
    diskSnap = path.join(dir, 'disk.vdsnap');
    await snapshot(diskSnap);
    await kill(a);
    const b = restore(diskSnap);
    await b.waitFor('COPY-DONE', 0, 180_000);
    const out = await sh(
      b,
      // The copy's last process may still hold the mount for a moment after it printed COPY-DONE.
      'sync; for t in 1 2 3 4 5; do umount /mnt && break; sleep 1; done; echo 3 > /proc/sys/vm/drop_caches; ' +
        'mount /dev/vda /mnt && echo SUM=$(md5sum < /mnt/big) WANT=$(cat /tmp/src.md5); umount /mnt; echo CHECKED-$((3+3))',
      'CHECKED-6',
    );
    const got = /SUM=(\w+)/.exec(out)?.[1];
    expect(got, `the guest printed: ${out}`).toMatch(/^[0-9a-f]{32}$/);
    expect(out).toContain(`WANT=${got}`);
    await kill(b);
    expect(sha(baseImage)).toBe(baseSha);
  });

  it('harts on threads: saved with both harts busy, restored on threads and on one thread', async () => {
    const m = manifest('snap-threads');
    const a = startVdesk(['run', m, '--no-viewer', '--threads', '--log-level', 'info'], 'VDESK-INIT-READY');
    await a.ready;
    expect(a.out.err).toMatch(/threads: 2 harts on workers/);
    await sh(a, 'echo from-threads > /root/t; sync; echo WROTE-$((5*5))', 'WROTE-25');
    const before = uptime(await sh(a, 'echo UP=$(cut -d" " -f1 /proc/uptime)', /UP=[\d.]+/));
    // Two CPU-bound loops (one per hart) run across the snapshot and must finish after the restore.
    await sh(
      a,
      'for k in 1 2; do (j=0; while [ $j -lt 150000 ]; do j=$((j+1)); done; echo LOOP-$k-DONE-$j) & done; echo BUSY-$((8*8))',
      'BUSY-64',
    );
    const file = path.join(dir, 'threads.vdsnap');
    await snapshot(file);
    await kill(a);
    // The snapshot's own manifest says threads; the manifest file (without --threads) runs one thread.
    for (const threaded of [true, false]) {
      const b = threaded
        ? restore(file, '--log-level', 'info')
        : startVdesk(['run', m, '--restore', file, '--no-viewer', '--log-level', 'info'], 'VDESK-NEVER');
      b.ready.catch(() => {});
      await b.waitFor('LOOP-1-DONE-150000', 0, 180_000);
      await b.waitFor('LOOP-2-DONE-150000', 0, 180_000);
      const cont = await sh(
        b,
        'cat /root/t; echo UP=$(cut -d" " -f1 /proc/uptime); echo again-$((4*4))',
        'again-16',
      );
      expect(cont).toContain('from-threads');
      expect(uptime(cont)).toBeGreaterThanOrEqual(before);
      if (threaded) expect(b.out.err).toMatch(/threads: 2 harts on workers\n/);
      else expect(b.out.err).not.toMatch(/harts on workers/);
      // Both harts still take work: one loop each again.
      await sh(
        b,
        'for k in 3 4; do (j=0; while [ $j -lt 3000 ]; do j=$((j+1)); done; echo LOOP-$k-END) & done; wait; echo BOTH-$((9*9))',
        'BOTH-81',
      );
      expect(b.out.text).toContain('LOOP-3-END');
      expect(b.out.text).toContain('LOOP-4-END');
      await kill(b);
    }
    // The harts' states reach the workers only when the restored machine runs: a bad one (from the file)
    // is still refused with one line.
    for (const [name, hart, why] of [
      ['hart-null', { version: 1, data: null }, /: hart 1: saved state is not an object$/],
      ['hart-empty', { version: 1, data: { hartId: 1 } }, /: hart 1: \w+ /],
    ] as const) {
      const f = path.join(dir, `${name}.vdsnap`);
      await rewriteState(file, f, (tree) => ((tree.harts as StateValue[])[1] = hart));
      const r = await vdesk(['run', '--restore', f, '--no-viewer'], { timeoutMs: 120_000 });
      expect(r.code).toBe(1);
      // The machine was restored but for the harts, which refuse their states once their workers run.
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^vdesk: restored /);
      expect(lines[1]).toMatch(/^vdesk: --restore .*hart-\w+\.vdsnap: hart 1: /);
      expect(lines[1]).toMatch(why);
    }
  });

  /** A restore that must fail: exit 1, one line on stderr matching `why`, and nothing changed on disk. */
  async function refused(file: string, why: RegExp, ...more: string[]): Promise<void> {
    const files = [file, baseImage];
    const before = files.map(sha);
    const r = await vdesk(['run', '--restore', file, '--no-viewer', ...more], { timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(why);
    expect(files.map(sha)).toEqual(before);
  }

  it('bad snapshots: truncated, corrupted, another format version, another machine, a changed base image', async () => {
    const good = readFileSync(diskSnap);
    const bad = (name: string, bytes: Uint8Array): string => {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      return f;
    };
    await refused(
      bad('trunc.vdsnap', good.subarray(0, good.length >> 1)),
      /^vdesk: --restore .*: truncated: \d+ of \d+ bytes$/,
    );
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1000] ^= 0x40;
    await refused(bad('flip.vdsnap', flipped), /corrupted: checksum mismatch/);
    const v2 = Buffer.from(good);
    v2.writeUInt32LE(3, 8);
    await refused(
      bad('v3.vdsnap', v2),
      /snapshot format version 3; this version of virtio-desktop reads version 2/,
    );
    await refused(bad('junk.vdsnap', Buffer.from('not a snapshot at all')), /not a virtio-desktop snapshot/);
    await refused(diskSnap, /taken of another machine/, '--memory', '512M');
    await refused(shellSnap, /taken of another machine/, diskManifest);
    // The base image changes under the snapshot: refused with one line, the image left as it is now.
    const base = readFileSync(baseImage);
    base[4096 * 3] ^= 1;
    writeFileSync(baseImage, base);
    await refused(diskSnap, /disk image .*base\.img changed since the snapshot was taken/);
  });
});
