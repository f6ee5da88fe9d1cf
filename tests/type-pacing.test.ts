/**
 * Issue 16, item 5, with a real Linux guest: `vdesk type` goes at the pace the guest reads the keyboard,
 * so a long text arrives whole (before, the keystrokes went in one burst and all but the last 64 frames
 * were dropped: 59 characters → 0 arrived, with "ok").
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, startVdesk, vdesk, type RunningVdesk } from './guest.js';

let a: RunningVdesk;
let kbd = '';
const env = { VDESK_RUNTIME_DIR: mkdtempSync(path.join(tmpdir(), 'vdesk-type-run-')) };

beforeAll(async () => {
  const img = guestImages();
  const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-type-'));
  const manifest = path.join(dir, 'typing.json');
  writeFileSync(
    manifest,
    JSON.stringify({
      name: 'typing',
      memory: '256M',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
      ],
    }),
  );
  process.env.VDESK_RUNTIME_DIR = env.VDESK_RUNTIME_DIR;
  a = startVdesk(
    [
      'run',
      manifest,
      '--kernel',
      img.kernel,
      '--initrd',
      img.initrd,
      '--append',
      `console=ttyS0 ${guestCommand('evdev-dump --seconds 900')}`,
    ],
    'EVDEV-READY',
  );
  await a.ready;
  kbd = /DEV (event\d+) name="virtio-desktop keyboard"/.exec(a.out.text)![1];
});

afterAll(async () => {
  if (!a) return;
  await vdesk(['shutdown', '--machine', 'typing'], { env });
  await a.exited;
});

describe('vdesk type with Linux', () => {
  it('types 1,000 characters 20 ms apart and every keystroke reaches a guest application', async () => {
    const text = 'the Quick brown fox, 1234567890; JUMPS over the lazy dog! '.repeat(20).slice(0, 1000);
    const mark = a.out.text.length;
    const t0 = Date.now();
    const r = await vdesk(['type', '--machine', 'typing', '--interval', '20', text], {
      env,
      timeoutMs: 120_000,
    });
    const ms = Date.now() - t0;
    expect(r.stderr).not.toMatch(/vdesk:/);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^typed 1000 keystrokes$/);
    const presses = () =>
      [...a.out.text.slice(mark).matchAll(new RegExp(`^EV ${kbd} 1 (\\d+) 1\\r?$`, 'gm'))]
        .map((m) => Number(m[1]))
        .filter((c) => c !== 42);
    const t1 = Date.now();
    while (presses().length < 1000 && Date.now() - t1 < 30_000)
      await new Promise((res) => setTimeout(res, 100));
    expect(presses()).toHaveLength(1000);
    console.log(`typed 1000 characters (${presses().length} key presses arrived) in ${ms} ms`);
  });
});
