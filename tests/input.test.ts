/**
 * virtio-input end to end with the real guest: Linux's virtio_input driver probes our keyboard, absolute
 * pointer and touchscreen with the capabilities udev/libinput classify them by, and events sent through
 * `vdesk key/type/move/click/scroll/touch` and through the viewer page in headless Chromium arrive in the
 * guest's evdev (guest/tools/evdev-dump.c) with exact codes, values, slots and frame boundaries.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, startVdesk, vdesk, type RunningVdesk } from './guest.js';

const ABS_MAX = 32767;
const EV_SYN = 0;
const EV_KEY = 1;
const EV_REL = 2;
const EV_ABS = 3;

let a: RunningVdesk;
let dir: string;
const dev: Record<'kbd' | 'ptr' | 'touch', string> = { kbd: '', ptr: '', touch: '' };

beforeAll(async () => {
  const img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-input-'));
  const manifest = path.join(dir, 'input.json');
  writeFileSync(
    manifest,
    JSON.stringify({
      name: 'input',
      memory: '256M',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
        { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
        { package: '@virtio-desktop/virtio-input', device: 'pointer' },
        { package: '@virtio-desktop/virtio-input', device: 'touch' },
      ],
    }),
  );
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
  for (const [k, name] of [
    ['kbd', 'keyboard'],
    ['ptr', 'pointer'],
    ['touch', 'touchscreen'],
  ] as const) {
    const m = new RegExp(`DEV (event\\d+) name="virtio-desktop ${name}"`).exec(a.out.text);
    if (!m) throw new Error(`no ${name} in:\n${a.out.text.slice(-3000)}`);
    dev[k] = m[1];
  }
});

afterAll(async () => {
  if (!a) return;
  await vdesk(['shutdown', '--machine', 'input']);
  await a.exited;
});

/**
 * A bound for a stalled host, not a speed assumption: a passing run never waits for it (the events are
 * guest output, awaited as markers), and a failing one says what the guest and the page saw.
 */
const EVENTS_WITHIN_MS = 180_000;

/**
 * Events (type code value) of one device after `mark`, once `count` of them (of `type`, if given) arrived.
 * Key repeats (value 2, with the SYN_REPORT that closes each) are left out: the guest's input core makes
 * them itself when a key's release comes more than its repeat delay (250 ms) after the press, which a
 * loaded host can take between two WebSocket messages of one key stroke.
 */
async function eventsAfter(
  mark: number,
  device: string,
  count: number,
  type?: number,
  why?: () => Promise<string>,
): Promise<number[][]> {
  const parse = () => {
    const all = [
      ...a.out.text.slice(mark).matchAll(new RegExp(`^EV ${device} (\\d+) (\\d+) (-?\\d+)\\r?$`, 'gm')),
    ].map((m) => m.slice(1).map(Number));
    const kept = all.filter(
      (e, i) =>
        !(e[0] === EV_KEY && e[2] === 2) &&
        !(e[0] === EV_SYN && all[i - 1]?.[0] === EV_KEY && all[i - 1][2] === 2),
    );
    return kept.filter((e) => type === undefined || e[0] === type);
  };
  const t0 = Date.now();
  while (parse().length < count) {
    if (Date.now() - t0 > EVENTS_WITHIN_MS)
      throw new Error(
        `expected ${count} events from ${device} within ${EVENTS_WITHIN_MS} ms, got:\n${a.out.text.slice(mark)}` +
          `\nvdesk's log (tail):\n${a.out.err.slice(-1500)}${why ? `\n${await why()}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  return parse();
}

const SYN = [EV_SYN, 0, 0];

/** What a viewer page knows of its connection (for a failure's message). */
const pageState = (page: Page) => async () =>
  `viewer page: ${await page
    .evaluate(() => JSON.stringify((window as unknown as { __vdesk?: unknown }).__vdesk ?? null))
    .catch((e: unknown) => String(e))}`;
const scaled = (px: number, size: number) => Math.round((px / (size - 1)) * ABS_MAX);

async function cli(...args: string[]) {
  const r = await vdesk([...args.slice(0, 1), '--machine', 'input', ...args.slice(1)]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('virtio-input with Linux', () => {
  it('the guest sees a keyboard, an absolute pointer and a touchscreen with the right capabilities', () => {
    const line = (d: string) => new RegExp(`^DEV ${d} .*$`, 'm').exec(a.out.text)![0];
    const kbd = line(dev.kbd);
    expect(kbd).toContain('bus=0x06');
    expect(kbd).toContain('rep=1');
    expect(Number(/keys=(\d+)/.exec(kbd)![1])).toBeGreaterThan(100);
    const ptr = line(dev.ptr);
    expect(ptr).toContain('x=0..32767 y=0..32767');
    expect(ptr).toContain('btn_left=1');
    expect(ptr).toContain('rel=0x1940'); // REL_HWHEEL 6, REL_WHEEL 8 and their hi-res twins 11, 12
    const touch = line(dev.touch);
    expect(touch).toContain('props=0x2'); // INPUT_PROP_DIRECT
    expect(touch).toContain('slots=0..9');
    expect(touch).toContain('btn_touch=1');
  });

  it('vdesk key and type deliver exact key codes, whole frames', async () => {
    let mark = a.out.text.length;
    // (not ctrl+alt+delete: the guest kernel would reboot at once, as a PC does)
    await cli('key', 'shift+ctrl+x');
    expect(await eventsAfter(mark, dev.kbd, 12)).toEqual([
      [EV_KEY, 42, 1], SYN, [EV_KEY, 29, 1], SYN, [EV_KEY, 45, 1], SYN,
      [EV_KEY, 45, 0], SYN, [EV_KEY, 29, 0], SYN, [EV_KEY, 42, 0], SYN,
    ]); // prettier-ignore
    mark = a.out.text.length;
    await cli('type', 'Hi!');
    const ev = await eventsAfter(mark, dev.kbd, 10, EV_KEY);
    expect(ev).toEqual([
      [EV_KEY, 42, 1], [EV_KEY, 35, 1], [EV_KEY, 35, 0], [EV_KEY, 42, 0],
      [EV_KEY, 23, 1], [EV_KEY, 23, 0],
      [EV_KEY, 42, 1], [EV_KEY, 2, 1], [EV_KEY, 2, 0], [EV_KEY, 42, 0],
    ]); // prettier-ignore
  });

  it('vdesk move, click and scroll deliver exact coordinates, buttons and wheel', async () => {
    let mark = a.out.text.length;
    await cli('move', '640', '400');
    expect(await eventsAfter(mark, dev.ptr, 3)).toEqual([
      [EV_ABS, 0, scaled(640, 1280)],
      [EV_ABS, 1, scaled(400, 800)],
      SYN,
    ]);
    mark = a.out.text.length;
    await cli('click', '--button', 'right', '1279', '0');
    expect(await eventsAfter(mark, dev.ptr, 7)).toEqual([
      [EV_ABS, 0, ABS_MAX], [EV_ABS, 1, 0], SYN,
      [EV_KEY, 0x111, 1], SYN, [EV_KEY, 0x111, 0], SYN,
    ]); // prettier-ignore
    mark = a.out.text.length;
    await cli('scroll', '--', '-2');
    expect(await eventsAfter(mark, dev.ptr, 3)).toEqual([[EV_REL, 8, -2], [EV_REL, 11, -240], SYN]); // prettier-ignore
    // Out-of-range coordinates are clamped to the screen.
    mark = a.out.text.length;
    // (x is already at the right edge: only y changes, and evdev reports only changes)
    await cli('move', '5000', '5000');
    expect(await eventsAfter(mark, dev.ptr, 2)).toEqual([[EV_ABS, 1, ABS_MAX], SYN]); // prettier-ignore
  });

  it('vdesk touch plays a two-finger gesture as protocol-B slots with single-touch emulation', async () => {
    const gesture = path.join(dir, 'pinch.json');
    writeFileSync(
      gesture,
      JSON.stringify({
        intervalMs: 30,
        frames: [
          [{ id: 7, x: 100, y: 100 }],
          [
            { id: 7, x: 100, y: 100 },
            { id: 9, x: 1000, y: 700 },
          ],
          [{ id: 9, x: 900, y: 700 }],
        ],
      }),
    );
    const mark = a.out.text.length;
    await cli('touch', gesture);
    const x = (px: number) => scaled(px, 1280);
    const y = (py: number) => scaled(py, 800);
    // What evdev shows: the input core drops unchanged values and emits ABS_MT_SLOT only when the slot
    // differs from the last one it reported, so these are exactly the changes of each frame.
    const ev = await eventsAfter(mark, dev.touch, 22);
    expect(ev).toEqual([
      // finger 7 down in slot 0 (tracking id 0), BTN_TOUCH, ABS_X/Y follow the first finger
      [EV_ABS, 0x39, 0], [EV_ABS, 0x35, x(100)], [EV_ABS, 0x36, y(100)],
      [EV_KEY, 0x14a, 1], [EV_ABS, 0, x(100)], [EV_ABS, 1, y(100)], SYN,
      // finger 9 joins in slot 1
      [EV_ABS, 0x2f, 1], [EV_ABS, 0x39, 1], [EV_ABS, 0x35, x(1000)], [EV_ABS, 0x36, y(700)], SYN,
      // finger 7 lifts; finger 9 moves; ABS_X/Y now follow finger 9
      [EV_ABS, 0x2f, 0], [EV_ABS, 0x39, -1], [EV_ABS, 0x2f, 1], [EV_ABS, 0x35, x(900)],
      [EV_ABS, 0, x(900)], [EV_ABS, 1, y(700)], SYN,
      // everything lifts
      [EV_ABS, 0x39, -1], [EV_KEY, 0x14a, 0], SYN,
    ]); // prettier-ignore
  });

  it('bad input from the command line is one clear line', async () => {
    const r = await vdesk(['key', '--machine', 'input', 'ctrl+nosuchkey']);
    expect(r.stderr.trim()).toBe('vdesk: unknown key "nosuchkey"');
    expect(r.code).toBe(1);
    const b = await vdesk(['click', '--machine', 'input', '--button', 'thumb', '1', '1']);
    expect(b.stderr.trim()).toMatch(/unknown button "thumb"/);
  });

  it('the viewer page in Chromium sends physical keys, clicks, wheel and touch to the guest', async () => {
    const url = /viewer at (http:\/\/\S+)/.exec(a.out.err)?.[1];
    expect(url).toBeDefined();
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, hasTouch: true });
      await page.goto(url!);
      await page.waitForFunction(() => (document.getElementById('screen') as HTMLCanvasElement).width > 0);
      let mark = a.out.text.length;
      await page.keyboard.press('KeyQ');
      expect(await eventsAfter(mark, dev.kbd, 4, undefined, pageState(page))).toEqual([
        [EV_KEY, 16, 1],
        SYN,
        [EV_KEY, 16, 0],
        SYN,
      ]);
      mark = a.out.text.length;
      await page.mouse.click(640, 400);
      const clicks = await eventsAfter(mark, dev.ptr, 2, EV_KEY, pageState(page));
      expect(clicks).toEqual([
        [EV_KEY, 0x110, 1],
        [EV_KEY, 0x110, 0],
      ]);
      mark = a.out.text.length;
      await page.mouse.wheel(0, 100);
      expect(await eventsAfter(mark, dev.ptr, 2, EV_REL, pageState(page))).toEqual([
        [EV_REL, 8, -1],
        [EV_REL, 11, -120],
      ]);
      mark = a.out.text.length;
      await page.touchscreen.tap(200, 200);
      expect(await eventsAfter(mark, dev.touch, 2, EV_KEY, pageState(page))).toEqual([
        [EV_KEY, 0x14a, 1],
        [EV_KEY, 0x14a, 0],
      ]);
    } finally {
      await browser.close();
    }
  });
  it('the viewer page types what any client means: keyboard.type, insertText (IME) and paste', async () => {
    const url = /viewer at (http:\/\/\S+)/.exec(a.out.err)?.[1];
    expect(url).toBeDefined();
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    // Each character as US-layout key strokes (Linux codes): shifted ones inside Shift.
    const SHIFT = 42;
    const tap = (k: number) => [
      [EV_KEY, k, 1],
      [EV_KEY, k, 0],
    ];
    const shifted = (k: number) => [[EV_KEY, SHIFT, 1], ...tap(k), [EV_KEY, SHIFT, 0]];
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(url!);
      await page.waitForFunction(() => (document.getElementById('screen') as HTMLCanvasElement).width > 0);
      // playwright sends key "|" with code "Backslash" and no Shift, as on-screen keyboards do
      let mark = a.out.text.length;
      await page.keyboard.type('a|b~"');
      const typed = [...tap(30), ...shifted(43), ...tap(48), ...shifted(41), ...shifted(40)];
      expect(await eventsAfter(mark, dev.kbd, typed.length, EV_KEY, pageState(page))).toEqual(typed);
      // text with no key events at all (an IME's commit, a phone keyboard): input events
      mark = a.out.text.length;
      await page.keyboard.insertText('q~');
      const ime = [...tap(16), ...shifted(41)];
      expect(await eventsAfter(mark, dev.kbd, ime.length, EV_KEY, pageState(page))).toEqual(ime);
      // a paste arrives as typed text
      mark = a.out.text.length;
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.setData('text/plain', 'Z:1');
        document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
      });
      const pasted = [...shifted(44), ...shifted(39), ...tap(2)];
      expect(await eventsAfter(mark, dev.kbd, pasted.length, EV_KEY, pageState(page))).toEqual(pasted);
    } finally {
      await browser.close();
    }
  });
});
