/**
 * virtio-power and virtio-blk end to end with the real guest and our Linux driver: guest poweroff and
 * reboot (in the same process), host shutdown through `vdesk shutdown` and SIGTERM, hotplug of a disk,
 * and data on a disk image surviving a host-requested shutdown.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, root, startVdesk, vdesk, type GuestImages } from './guest.js';

let img: GuestImages;
let dir: string;
beforeAll(() => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-power-'));
});

/** A manifest in the test directory; its disk image path is relative to it. */
function manifest(name: string, devices: unknown[], power: Record<string, unknown> = {}): string {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(
    f,
    JSON.stringify({
      name,
      memory: '256M',
      cpus: 2,
      devices: [{ package: '@virtio-desktop/virtio-power', options: power }, ...devices],
    }),
  );
  return f;
}

const runArgs = (m: string, cmdline: string) => [
  'run',
  m,
  '--kernel',
  img.kernel,
  '--initrd',
  img.initrd,
  '--no-viewer',
  '--append',
  cmdline,
];

const start = startVdesk;

describe('virtio-power with the Linux driver', () => {
  it('loads the driver, exposes the inventory, and powers off through the device', async () => {
    const m = manifest('inv', [
      { package: '@virtio-desktop/virtio-blk', id: 'disk', options: { size: '8M' } },
    ]);
    const r = await vdesk([
      ...runArgs(
        m,
        `console=ttyS0 ${guestCommand('I=$(ls -d /sys/bus/virtio/devices/*/inventory); cat $I/name $I/harts $I/interrupt_controller; cat $I/devices')}`,
      ),
      '--log-level',
      'info',
    ]);
    expect(r.stdout).toContain('virtio-power ready');
    expect(r.stdout).toMatch(/^inv$/m);
    expect(r.stdout).toMatch(/^2$/m);
    expect(r.stdout).toMatch(/0 58 mmio 0x10001000 0x1000 32 self virtio-power/);
    expect(r.stdout).toMatch(/1 2 mmio 0x10002000 0x1000 33 - virtio-blk/);
    expect(r.stderr).toContain('guest asks for poweroff (command)');
    expect(r.code).toBe(0);
  });

  it('guest reboot resets the machine and boots again in the same process; a disk keeps its data', async () => {
    const image = path.join(dir, 'reboot.img');
    writeFileSync(image, Buffer.alloc(1 << 20));
    const m = manifest('reboot', [
      { package: '@virtio-desktop/virtio-blk', options: { image: 'reboot.img' } },
    ]);
    const script = [
      'if [ "$(dd if=/dev/vda bs=8 count=1 2>/dev/null)" = REBOOTED ]; then echo SECOND-BOOT;',
      'else printf REBOOTED | dd of=/dev/vda bs=8 count=1 conv=fsync 2>/dev/null; echo FIRST-BOOT; reboot; sleep 60; fi',
    ].join(' ');
    const r = await vdesk(runArgs(m, `console=ttyS0 ${guestCommand(script)}`));
    expect(r.stdout).toContain('FIRST-BOOT');
    expect(r.stdout).toContain('SECOND-BOOT');
    expect(r.stdout.split('VDESK-INIT-READY').length - 1).toBe(2);
    expect(r.code).toBe(0);
    expect(readFileSync(image).subarray(0, 8).toString()).toBe('REBOOTED');
  });

  it('vdesk shutdown: the guest shuts down gracefully, files written before survive on the disk', async () => {
    const image = path.join(dir, 'fs.img');
    writeFileSync(image, Buffer.alloc(8 << 20));
    const m = manifest('fsdemo', [{ package: '@virtio-desktop/virtio-blk', options: { image: 'fs.img' } }]);
    const write =
      'mkfs.ext2 -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt && echo kept-$((40+2)) > /mnt/file && sync && echo WRITTEN && sleep 600';
    const a = start(runArgs(m, `console=ttyS0 ${guestCommand(write)}`), 'WRITTEN');
    await a.ready;
    const s = await vdesk(['shutdown', '--machine', 'fsdemo']);
    expect(s.stdout).toContain('asked the guest to shut down');
    expect(await a.exited).toBe(0);
    expect(a.out.text).toContain('host asks for power-off');
    const read = await vdesk(
      runArgs(m, `console=ttyS0 ${guestCommand('mkdir -p /mnt && mount /dev/vda /mnt && cat /mnt/file')}`),
    );
    expect(read.stdout).toContain('kept-42');
    expect(read.code).toBe(0);
  });

  it('with a program listening to the power button, vdesk shutdown is a KEY_POWER press the guest decides on', async () => {
    // No escalation to FORCE_POWER_OFF: on a loaded machine the checks below may take longer than its 15 s.
    const m = manifest('button', [], { forceAfterMs: 0 });
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    // evdev-dump holds every event node open, the "Power Button" one included, like logind would.
    a.p.stdin?.write(
      'evdev-dump --seconds 120 > /tmp/ev.log 2>&1 & sleep 1; echo WATCH-$(grep -c "Power Button" /tmp/ev.log)\n',
    );
    await a.waitFor('WATCH-1');
    const s = await vdesk(['shutdown', '--machine', 'button']);
    expect(s.stdout).toContain('asked the guest to shut down');
    await a.waitFor('host pressed the power button');
    // The guest's policy here is to do nothing: it keeps running, and saw one press and release.
    const mark = a.out.text.length;
    a.p.stdin?.write('sleep 1; echo KEYS-$(grep -c " 1 116 [01]$" /tmp/ev.log)\n');
    await a.waitFor('KEYS-2', mark);
    a.p.stdin?.write('poweroff\n');
    expect(await a.exited).toBe(0);
    expect(a.out.text).not.toContain('no button listener');
  });

  it('SIGTERM shuts the guest down gracefully', async () => {
    const m = manifest('sigterm', []);
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    await new Promise((r) => setTimeout(r, 500));
    a.p.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.out.text).toContain('host asks for power-off');
  });

  it('vdesk hotplug adds a disk the guest registers and uses', async () => {
    const m = manifest('hotplug', []);
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    const h = await vdesk([
      'hotplug',
      '--machine',
      'hotplug',
      '@virtio-desktop/virtio-blk',
      '--options',
      '{"size":"4M"}',
    ]);
    expect(h.stdout).toMatch(/added virtio-blk\d+ at 0x10002000 \(irq 33\)/);
    await new Promise((r) => setTimeout(r, 1500));
    a.p.stdin.write('cat /sys/block/vda/size; echo HOTPLUG-$(cat /sys/block/vda/size)\npoweroff\n');
    expect(await a.exited).toBe(0);
    expect(a.out.text).toContain('HOTPLUG-8192');
  });

  it('vdesk unplug removes a hotplugged disk: the guest lets go of it first', async () => {
    const m = manifest('unplug', []);
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    const h = await vdesk([
      'hotplug',
      '--machine',
      'unplug',
      '@virtio-desktop/virtio-blk',
      '--id',
      'extra',
      '--options',
      '{"size":"4M"}',
    ]);
    expect(h.code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    a.p.stdin.write('echo PLUGGED-$(cat /sys/block/vda/size)\n');
    await a.waitFor('PLUGGED-8192');
    const u = await vdesk(['unplug', '--machine', 'unplug', 'extra']);
    expect(u.stdout.trim()).toBe('removed extra');
    const mark = a.out.text.length;
    a.p.stdin.write(
      'test -e /sys/block/vda && echo STILL-THERE || echo DISK-GONE; cat $(ls -d /sys/bus/virtio/devices/*/inventory)/devices\n',
    );
    await a.waitFor('DISK-GONE', mark);
    expect(a.out.text.slice(mark)).not.toContain('virtio-blk');
    const bad = await vdesk(['unplug', '--machine', 'unplug', 'power']);
    expect(bad.stderr).toMatch(/no device "power"|was not hotplugged/);
    expect(bad.code).toBe(1);
    a.p.stdin.write('poweroff\n');
    expect(await a.exited).toBe(0);
    expect(a.out.text).not.toMatch(/Oops|BUG:|WARNING:/);
  });

  it('after a guest reboot a hotplugged disk is in the device tree, a boot device like the others (VD-804)', async () => {
    const m = manifest('hpreboot', []);
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    try {
      const h = await vdesk([
        'hotplug',
        '--machine',
        'hpreboot',
        '@virtio-desktop/virtio-blk',
        '--id',
        'extra',
        '--options',
        '{"size":"4M"}',
      ]);
      expect(h.code).toBe(0);
      const inv = 'cat $(ls -d /sys/bus/virtio/devices/*/inventory)/devices';
      a.p.stdin.write(
        `i=0; while [ ! -e /sys/block/vda ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; ${inv}; echo PLUGGED-$(cat /sys/block/vda/size)\n`,
      );
      await a.waitFor(/PLUGGED-\d+/);
      expect(a.out.text).toContain('PLUGGED-8192');
      expect(a.out.text).toMatch(/0x10002000 0x1000 33 hotplugged virtio-blk/);
      const mark = a.out.text.length;
      a.p.stdin.write('reboot\n');
      await a.waitFor('VDESK-INIT-READY', mark);
      const after = a.out.text.length;
      a.p.stdin.write(
        `${inv}; echo DT-$(find /sys/firmware/devicetree/base/ -name virtio_mmio@10002000 | wc -l)-SIZE-$(cat /sys/block/vda/size)-END\n`,
      );
      await a.waitFor(/DT-\d+-SIZE-\d*-END/, after);
      const out = a.out.text.slice(after);
      // In the device tree the kernel booted with, so the disk is there without virtio-power's hotplug path.
      expect(out).toContain('DT-1-SIZE-8192-END');
      expect(out).toMatch(/0x10002000 0x1000 33 - virtio-blk/);
      // Now the device tree owns it: not removable like a hotplugged device.
      const u = await vdesk(['unplug', '--machine', 'hpreboot', 'extra']);
      expect(u.stderr).toMatch(/was not hotplugged since the guest booted/);
      a.p.stdin.write('poweroff\n');
      expect(await a.exited).toBe(0);
    } finally {
      if (a.p.exitCode === null) a.p.kill('SIGKILL');
    }
    expect(a.out.text).not.toMatch(/Oops|BUG:|WARNING:/);
  });

  it('vdesk reboot restarts the guest in the same process', async () => {
    const m = manifest('hostreboot', []);
    const a = start(runArgs(m, 'console=ttyS0'), 'VDESK-INIT-READY');
    await a.ready;
    await new Promise((r) => setTimeout(r, 500));
    const mark = a.out.text.length;
    const r = await vdesk(['reboot', '--machine', 'hostreboot']);
    expect(r.stdout).toContain('asked the guest to reboot');
    await a.waitFor('VDESK-INIT-READY', mark);
    a.p.stdin.write('poweroff\n');
    expect(await a.exited).toBe(0);
  });

  it('a guest that ignores the shutdown request is stopped after --shutdown-timeout, with a clear line', async () => {
    const m = manifest('stubborn', []);
    // orderly_poweroff() runs /sbin/poweroff: make it do nothing, so the guest never shuts down.
    const a = start(
      [
        ...runArgs(
          m,
          `console=ttyS0 ${guestCommand('rm /sbin/poweroff; printf "#!/bin/sh\\n" > /sbin/poweroff; chmod +x /sbin/poweroff; echo STUBBORN; sleep 600')}`,
        ),
        '--shutdown-timeout',
        '2',
      ],
      'STUBBORN',
    );
    await a.ready;
    const t0 = Date.now();
    const s = await vdesk(['shutdown', '--machine', 'stubborn']);
    expect(s.stdout).toContain('asked the guest to shut down');
    expect(await a.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(a.out.err).toMatch(/machine stopped: vdesk shutdown; the guest did not shut down within 2 s/);
  });

  it('a guest that ignores the power button gets FORCE_POWER_OFF after forceAfterMs, and powers off', async () => {
    const m = manifest('ignores', [], { forceAfterMs: 2000 });
    // An evdev client holds the power button open and does nothing with its key, as a desktop whose
    // policy ignores the button would: the POWER_OFF press changes nothing, the forced request does.
    const a = start(
      [
        ...runArgs(
          m,
          `console=ttyS0 ${guestCommand('for e in /dev/input/event*; do cat $e > /dev/null & done; echo IGNORING-$(ls /dev/input | grep -c event); sleep 600')}`,
        ),
        '--shutdown-timeout',
        '300',
      ],
      'IGNORING-',
    );
    await a.ready;
    expect(a.out.text).toMatch(/IGNORING-[1-9]/);
    const s = await vdesk(['shutdown', '--machine', 'ignores']);
    expect(s.stdout).toContain('asked the guest to shut down');
    expect(await a.exited).toBe(0);
    expect(a.out.err).toMatch(
      /virtio-power: the guest did not power off within 2 s of the power-button request: FORCE_POWER_OFF/,
    );
    expect(a.out.err).not.toMatch(/machine stopped/);
  });

  it('the driver unloads cleanly with its device bound, and loads again', async () => {
    const m = manifest('rmmod', []);
    const script = [
      'rmmod virtio_power; echo RMMOD=$?',
      'ls /sys/bus/virtio/drivers/virtio_power >/dev/null 2>&1 || echo DRIVER-GONE',
      'insmod /lib/modules/virtio_power.ko; echo INSMOD=$?',
      'cat $(ls -d /sys/bus/virtio/devices/*/inventory)/harts',
    ].join('; ');
    const r = await vdesk(runArgs(m, `console=ttyS0 ${guestCommand(script)}`));
    expect(r.stdout).toContain('RMMOD=0');
    expect(r.stdout).toContain('DRIVER-GONE');
    expect(r.stdout).toContain('INSMOD=0');
    expect(r.stdout).toMatch(/^2$/m);
    expect(r.stdout).not.toMatch(/Oops|BUG:|WARNING:|Call Trace/);
    expect(r.code).toBe(0);
  });

  // The guest kernel has CONFIG_SUSPEND and CONFIG_PM_DEBUG for this (guest/linux/virtio-desktop.config).
  // VDESK_PM_KBUILD=<kernel build dir> runs it on another kernel (with the driver built from this tree
  // against it); VDESK_PM_KO=<virtio_power.ko> with another build of the driver (one without
  // freeze/restore makes this test fail).
  it('after suspend and resume (PM test mode) the driver still answers host requests', async () => {
    const kb = process.env.VDESK_PM_KBUILD;
    let ko = process.env.VDESK_PM_KO;
    const work = mkdtempSync(path.join(dir, 'pm-'));
    if (kb && !ko) {
      const build = execFileSync('bash', [path.join(root, 'guest/linux/virtio_power/build.sh'), kb, work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      ko = /^KO=(.+)$/m.exec(build)?.[1] ?? '';
    }
    let initrd = img.initrd;
    if (ko) {
      // A second cpio replaces the module in the guest's initramfs.
      mkdirSync(path.join(work, 'root/lib/modules'), { recursive: true });
      writeFileSync(path.join(work, 'root/lib/modules/virtio_power.ko'), readFileSync(ko));
      const extra = execFileSync('sh', ['-c', 'find lib | cpio -o -H newc 2>/dev/null | gzip'], {
        cwd: path.join(work, 'root'),
        maxBuffer: 64 << 20,
      });
      initrd = path.join(work, 'initrd.cpio.gz');
      writeFileSync(initrd, Buffer.concat([readFileSync(img.initrd), extra]));
    }
    const m = manifest('pmtest', []);
    const script = [
      'test -w /sys/power/pm_test || echo NO-PM-TEST-MODE',
      // The test mode holds the suspended state for pm_test_delay seconds (default 5); 1 is enough.
      'echo 1 > /sys/module/suspend/parameters/pm_test_delay',
      // "devices": tasks frozen, every driver's freeze (virtio: the device reset), then restore.
      'echo devices > /sys/power/pm_test',
      'echo freeze > /sys/power/state; echo PM=$?',
      'echo PM-READY; sleep 600',
    ].join('; ');
    const kernel = kb ? path.join(kb, 'arch/riscv/boot/Image') : img.kernel;
    const a = start(
      [
        ...['run', m, '--kernel', kernel, '--initrd', initrd, '--no-viewer'],
        ...['--append', `console=ttyS0 ${guestCommand(script)}`],
      ],
      'PM-READY',
    );
    await a.ready;
    expect(a.out.text).not.toContain('NO-PM-TEST-MODE');
    expect(a.out.text).toContain('PM: suspend exit');
    expect(a.out.text).toContain('PM=0');
    // The device was reset behind the driver: without freeze/restore this ack times out on a dead queue.
    const sd = await vdesk(['shutdown', '--machine', 'pmtest']);
    expect(sd.stdout).toContain('asked the guest to shut down');
    expect(await a.exited).toBe(0);
    expect(a.out.text).toContain('host asks for power-off');
    expect(a.out.text).not.toMatch(/timed out|ack of seq \d+ failed|Oops|BUG:|WARNING:/);
  }, 300_000);

  it('vdesk shutdown with no machine running is one clear line', async () => {
    const r = await vdesk(['shutdown', '--machine', 'no-such-machine']);
    expect(r.stderr.trim()).toMatch(/^vdesk: no machine is listening on .*no-such-machine\.sock$/);
    expect(r.code).toBe(1);
  });
});
