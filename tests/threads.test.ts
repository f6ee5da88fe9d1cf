/**
 * The machine on threads (issue 17): Linux boots with 2 harts on worker threads and powers off with its
 * status; an SMP stress (two CPU-bound loops, a pipe and disk-less I/O through the shell, for a bounded
 * time) finishes with every result right; a hart worker that throws ends the machine with one line.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { RiscvMachine, parseManifest } from '@virtio-desktop/machine';
import { nodeModuleLoader } from '@virtio-desktop/machine/node';
import { guestCommand, guestImages, root, vdesk, type GuestImages } from './guest.js';

let img: GuestImages;
beforeAll(() => {
  img = guestImages();
});

function boot(script: string, extra: string[]) {
  return vdesk(
    [
      'run',
      '--shell',
      '--no-viewer',
      '--kernel',
      img.kernel,
      '--initrd',
      img.initrd,
      '--append',
      `console=ttyS0 ${guestCommand(script)}`,
      '--log-level',
      'info',
      ...extra,
    ],
    { timeoutMs: 400_000 },
  );
}

describe('the machine on threads', () => {
  it('boots Linux with 2 harts on worker threads and powers off with status 0', async () => {
    const r = await boot('echo harts=$(nproc); cat /sys/devices/system/cpu/online; echo answer=$((6*7))', [
      '--cpus',
      '2',
      '--threads',
    ]);
    expect(r.stderr).toContain('threads: 2 harts on workers');
    expect(r.stdout).toContain('harts=2');
    expect(r.stdout).toContain('0-1');
    expect(r.stdout).toContain('answer=42');
    expect(r.stdout).toContain('reboot: Power down');
    expect(r.code).toBe(0);
  });

  it('survives an SMP stress: two CPU-bound loops, a pipe and process churn on 2 threaded harts', async () => {
    const loop = '(i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo loop=$i)';
    const script = [
      `${loop} & ${loop} &`,
      '(dd if=/dev/zero bs=64k count=64 2>/dev/null | md5sum) &',
      '(for k in 1 2 3 4 5 6 7 8 9 10; do echo $k | cat > /dev/null; done; echo churn=done) &',
      'wait',
      'echo stress=done',
    ].join('\n');
    const r = await boot(script, ['--cpus', '2', '--threads']);
    expect(r.stdout.match(/loop=20000/g)).toHaveLength(2);
    // md5 of 4 MiB of zeros
    expect(r.stdout).toContain('b5cfa9d6c8febd618f91ac2843d50a1c');
    expect(r.stdout).toContain('churn=done');
    expect(r.stdout).toContain('stress=done');
    expect(r.code).toBe(0);
  });

  it('a hart worker that throws ends the machine with one clear line, no worker left', async () => {
    const manifest = parseManifest({ name: 'crash', cpus: 2, memory: '256M', threads: true }, 'test');
    const machine = await RiscvMachine.create({
      manifest,
      images: { kernel: readFileSync(img.kernel), initrd: readFileSync(img.initrd) },
      loadModule: nodeModuleLoader(root, [root]),
    });
    let out = '';
    machine.on('console', (b) => (out += Buffer.from(b).toString('latin1')));
    const running = machine.run();
    // Once the kernel prints, both workers are up and hart 0 runs.
    while (!out.includes('Linux version')) await new Promise((r) => setTimeout(r, 50));
    machine.threads!.crash(1);
    const exit = await running;
    expect(exit.kind).toBe('stopped');
    const reason = exit.kind === 'stopped' ? exit.reason : '';
    expect(reason).toMatch(/^hart 1 failed: Error: hart 1: fault injected/);
    expect(reason).not.toContain('\n');
  });
});
