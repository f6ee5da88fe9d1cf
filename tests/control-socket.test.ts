/**
 * Issue 16, items 3, 5, 8 and 9 against a live `vdesk run` (the idle kernel: no guest build): hotplug
 * takes package names from the manifest's node_modules only and its reply names the device; typing into
 * a guest that does not read is an error with a count, never "ok"; a click with a made-up button is
 * refused; and `vdesk run` exits promptly after the machine stops while a long request is running.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP_DEVICES, cli, idleSetup, startIdle, type IdleMachine } from './idle-machine.js';

let m: IdleMachine;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  const s = idleSetup('ctl', DESKTOP_DEVICES);
  dir = s.dir;
  env = { VDESK_RUNTIME_DIR: path.join(s.dir, 'run') };
  m = await startIdle(s.manifest, env);
});

afterAll(async () => {
  if (m?.p.exitCode === null) {
    m.p.kill('SIGKILL');
    await m.exited;
  }
});

describe('control socket of a live machine', () => {
  it('hotplug refuses a path, and a name not installed beside the manifest', async () => {
    writeFileSync(path.join(dir, 'evil.mjs'), 'process.exit(42)');
    let r = await cli(['hotplug', path.join(dir, 'evil.mjs')], env);
    expect(r.err).toMatch(/hotplug takes a package name .*not a path/);
    expect(r.code).toBe(1);
    r = await cli(['hotplug', 'left-pad'], env);
    expect(r.err).toMatch(/package left-pad is not installed in/);
    expect(m.p.exitCode).toBeNull();
  });

  it('hotplug of an installed package replies with the new device id, not the request id', async () => {
    const r = await cli(['hotplug', '@virtio-desktop/virtio-blk', '--options', '{"size":"1M"}'], env);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^added virtio-blk-?\d* at 0x[0-9a-f]+ \(irq \d+\)$/m);
  });

  it('click --button __proto__ never reaches the machine; a raw request with it is refused', async () => {
    const r = await cli(['click', '--button', '__proto__', '10', '10'], env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown button "__proto__"/);
  });

  it('typing into a guest that reads no keyboard events is an error with a count, never "ok"', async () => {
    const t0 = Date.now();
    const r = await cli(['type', 'a'.repeat(200)], env);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/typed \d+ of 200 keystrokes: the guest did not read .* events for 5000 ms/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('vdesk run exits within seconds of the machine stopping, even while a 100 s gesture plays', async () => {
    const frames = Array.from({ length: 100 }, (_, i) => [{ id: 1, x: i, y: i }]);
    const gesture = path.join(dir, 'long.json');
    writeFileSync(gesture, JSON.stringify({ intervalMs: 1000, frames }));
    const touch = cli(['touch', gesture], env, 200_000);
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    // No virtio-power driver in this guest: shutdown stops the machine at once.
    const r = await cli(['shutdown'], env);
    expect(r.out).toMatch(/stopped the machine/);
    await m.exited;
    const ms = Date.now() - t0;
    console.log(`vdesk run exited ${ms} ms after the stop with a gesture request running`);
    expect(ms).toBeLessThan(5000);
    const t = await touch;
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/the machine stopped|closed the connection/);
  });
});
