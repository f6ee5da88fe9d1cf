/**
 * The desktop image end to end (guest/desktop/build.sh): our machine boots Debian's Xorg on virtio-gpu
 * from an ext4 root on virtio-blk, twm and xterm appear in `vdesk screenshot`, a click focuses the
 * terminal and typed text runs there, the viewer page in headless Chromium resizes the desktop through
 * RandR, and `vdesk shutdown` leaves the filesystem clean. `vdesk run` with no arguments boots it, and
 * the twm menu's "Log out (power off)", picked with a held touch, powers it off.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, startVdesk, vdesk, type RunningVdesk } from './guest.js';

const NAME = 'desktop-test';
// Colours the image's session and twm configuration draw with (rootfs/usr/local/bin/vdesk-session,
// rootfs/home/user/.twmrc).
const BACKGROUND = [0x2f, 0x5f, 0x8f];
const TITLE = [0x3c, 0x6e, 0x9c];
const WHITE = [255, 255, 255];
const MENU = [0xf0, 0xf0, 0xf0];

interface Desktop {
  image: string;
  kernel: string;
  append: string;
}

function desktopImage(): Desktop {
  const out = execFileSync('bash', [path.join(root, 'guest/desktop/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  const get = (k: string): string => {
    const m = new RegExp(`^${k}=(.*)$`, 'm').exec(out);
    if (!m) throw new Error(`guest/desktop/build.sh printed no ${k}=`);
    return m[1];
  };
  return { image: get('DESKTOP_IMAGE'), kernel: get('KERNEL'), append: get('APPEND') };
}

let d: Desktop;
let dir: string;
let disk: string;
let a: RunningVdesk;

beforeAll(async () => {
  d = desktopImage();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-desktop-'));
  // A private copy, written in place (no overlay), so the test can check the filesystem the guest
  // leaves behind.
  disk = path.join(dir, 'root.ext4');
  execFileSync('cp', ['--sparse=always', d.image, disk]);
  const manifest = path.join(dir, 'desktop.json');
  writeFileSync(
    manifest,
    JSON.stringify({
      name: NAME,
      memory: '1G',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-blk', options: { image: disk } },
        { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
        { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
        { package: '@virtio-desktop/virtio-input', device: 'pointer' },
        { package: '@virtio-desktop/virtio-input', device: 'touch' },
      ],
    }),
  );
  a = startVdesk(['run', manifest, '--kernel', d.kernel, '--append', d.append], 'VDESK-DESKTOP-READY');
  await a.ready;
});

afterAll(() => {
  if (a && a.p.exitCode === null) a.p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function screenshot(file: string, machine = NAME) {
  const r = await vdesk(['screenshot', '--machine', machine, path.join(dir, file)]);
  expect(r.stderr).toBe('');
  const png = PNG.sync.read(readFileSync(path.join(dir, file)));
  const at = (x: number, y: number) => {
    const i = (y * png.width + x) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  /** Pixels in [x0, x1) x [y0, y1) whose colour is not `c`. */
  const other = (c: number[], x0: number, y0: number, x1: number, y1: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (at(x, y).some((v, i) => v !== c[i])) n++;
    return n;
  };
  return { width: png.width, height: png.height, at, other };
}

async function cli(...args: string[]) {
  const r = await vdesk([args[0], '--machine', NAME, ...args.slice(1)]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** Run a command in the root shell on the serial console and resolve with the console text after it. */
async function consoleRun(cmd: string, until: RegExp): Promise<string> {
  const mark = a.out.text.length;
  a.p.stdin!.write(`${cmd}\n`);
  await a.waitFor(until, mark, 60_000);
  return a.out.text.slice(mark);
}

function viewerUrl(): string {
  const url = /viewer at (http:\/\/\S+)/.exec(a.out.err)?.[1];
  if (!url) throw new Error('vdesk printed no viewer URL');
  return url;
}

describe('desktop image', () => {
  it('boots to X, the window manager and the terminal, in order', () => {
    const order = ['VDESK-DESKTOP-BOOT', 'VDESK-X-READY', 'VDESK-DESKTOP-READY'].map((m) =>
      a.out.text.indexOf(m),
    );
    expect(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]))).toBe(true);
    expect(a.out.text).not.toContain('VDESK-X-FAILED');
    // vdesk follows the milestones and prints the time to a usable desktop.
    expect(a.out.err).toMatch(/kernel up, init started\n[^]*time to a usable desktop \d+\.\d s/);
  });

  it('the desktop appears: background, a twm title bar and a white terminal', async () => {
    // Park the pointer on the background so nothing has the focus.
    await cli('move', '900', '600');
    await new Promise((r) => setTimeout(r, 1500));
    const s = await screenshot('desktop.png');
    expect([s.width, s.height]).toEqual([1280, 800]);
    for (const [x, y] of [[900, 600], [5, 795], [640, 500], [1270, 700]]) expect(s.at(x, y)).toEqual(BACKGROUND); // prettier-ignore
    // The terminal at +40+40: twm's title bar above it, an 80x24 white text area below.
    expect(s.other(TITLE, 130, 44, 500, 56)).toBe(0);
    expect(s.other(WHITE, 200, 150, 500, 350)).toBe(0);
  });

  it('in the viewer in Chromium, a click focuses the terminal and typing runs a command there', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      // The page asks for its viewport's size: the same as the display's, so page pixels are guest pixels.
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(viewerUrl());
      await page.waitForFunction(() => (document.getElementById('screen') as HTMLCanvasElement).width > 0);
      await page.mouse.click(300, 200);
      await new Promise((r) => setTimeout(r, 1500));
      const s = await screenshot('focused.png');
      // twm draws its focus highlight across the title bar of the focused window.
      expect(s.other(TITLE, 130, 44, 500, 56)).toBeGreaterThan(500);
      // Physical keys, as a person types them (the viewer sends key codes, so '>' is Shift and '.'),
      // at a person's pace rather than all in one burst.
      await page.keyboard.type('echo hello ', { delay: 30 });
      await page.keyboard.press('Shift+Period');
      await page.keyboard.type(' /tmp/typed', { delay: 30 });
      await page.keyboard.press('Enter');
      const out = await consoleRun(
        'for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/typed ] && break; sleep 1; done; echo "TYPED-[$(cat /tmp/typed 2>&1)] [$(stat -c %U /tmp/typed 2>&1)] END"',
        // Not the echoed command line, whose brackets hold `$(...)`: the shell's answer.
        /TYPED-\[[^$\]]*\] \[[^$\]]*\] END/,
      );
      // On failure, the input devices' counters say whether the keys reached the guest.
      const status = out.includes('TYPED-[hello] [user]')
        ? ''
        : (await vdesk(['status', '--machine', NAME])).stdout;
      expect(out, status).toMatch(/TYPED-\[hello\] \[user\]/);
    } finally {
      await browser.close();
    }
  });

  it('the viewer in Chromium drives the desktop size through RandR', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const mark = a.out.text.length;
      const page = await browser.newPage({ viewport: { width: 1024, height: 640 } });
      await page.goto(viewerUrl());
      await a.waitFor('VDESK-DISPLAY 1024x640', mark);
      await new Promise((r) => setTimeout(r, 1000));
      const s = await screenshot('resized.png');
      expect([s.width, s.height]).toEqual([1024, 640]);
      expect(s.at(1000, 620)).toEqual(BACKGROUND);
      expect(s.other(WHITE, 200, 150, 500, 350)).toBe(0);
      // The page draws the resized desktop too.
      const canvas = () =>
        page.evaluate(() => {
          const c = document.getElementById('screen') as HTMLCanvasElement;
          const px = Array.from(c.getContext('2d')!.getImageData(1000, 620, 1, 1).data.slice(0, 3));
          return { w: c.width, h: c.height, px };
        });
      await expect
        .poll(canvas, { timeout: 20_000, interval: 250 })
        .toEqual({ w: 1024, h: 640, px: BACKGROUND });
    } finally {
      await browser.close();
    }
  });

  it('vdesk shutdown powers off with the root filesystem clean', async () => {
    const r = await vdesk(['shutdown', '--machine', NAME]);
    expect(r.code).toBe(0);
    expect(await a.exited).toBe(0);
    expect(a.out.text).toContain('VDESK-ROOT-CLEAN');
    // e2fsck exits 0 only when it found nothing to fix; "clean" means no journal left to replay.
    execFileSync('e2fsck', ['-fn', disk], { stdio: 'pipe' });
    const state = execFileSync('dumpe2fs', ['-h', disk], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(state).toMatch(/^Filesystem state:\s+clean$/m);
    expect(state).not.toMatch(/needs_recovery/);
    // The user's session wrote to its home on the disk.
    const home = execFileSync('debugfs', ['-R', 'ls -l /home/user', disk], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(home).toContain('.xsession-errors');
  });

  it('vdesk run with no arguments boots the desktop image; its menu\'s "Log out" powers it off', async () => {
    const machine = 'desktop-default';
    const b = startVdesk(['run', '--no-viewer', '--name', machine], 'VDESK-DESKTOP-READY');
    try {
      await b.ready;
      expect(b.out.err).toContain(`booting the desktop image ${d.image}`);
      // twm pops its root menu while button 1 is held and runs the entry it is released on: a touch
      // held on the background (evdev's touchscreen emulates button 1) shows where the menu opens...
      const s0 = await screenshot('menu-closed.png', machine);
      const [px, py] = [Math.round(s0.width * 0.7), Math.round(s0.height * 0.7)];
      const hold = (frames: { x: number; y: number }[], intervalMs: number) =>
        vdesk([
          'touch',
          '--machine',
          machine,
          '--json',
          JSON.stringify({ intervalMs, frames: frames.map((f) => [{ id: 1, ...f }]) }),
        ]);
      const held = hold(
        Array.from({ length: 30 }, () => ({ x: px, y: py })),
        100,
      );
      await new Promise((r) => setTimeout(r, 1500));
      const s = await screenshot('menu.png', machine);
      expect((await held).code).toBe(0);
      let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
      for (let y = py - 20; y < Math.min(s.height, py + 300); y++)
        for (let x = Math.max(0, px - 300); x < Math.min(s.width, px + 300); x++)
          if (s.other(MENU, x, y, x + 1, y + 1) === 0) {
            [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
          }
      expect(y1 - y0, 'the menu opened under the touch').toBeGreaterThan(100);
      // ...then a second touch at the same place slides to the last entry, "Log out (power off)".
      const [tx, ty] = [Math.round((x0 + x1) / 2), y1 - 6];
      const slide = [
        ...Array.from({ length: 8 }, () => ({ x: px, y: py })),
        ...Array.from({ length: 10 }, (_, k) => ({
          x: Math.round(px + ((tx - px) * (k + 1)) / 10),
          y: Math.round(py + ((ty - py) * (k + 1)) / 10),
        })),
        ...Array.from({ length: 5 }, () => ({ x: tx, y: ty })),
      ];
      expect((await hold(slide, 60)).code).toBe(0);
      await b.waitFor('VDESK-SESSION-END', 0, 60_000);
      expect(await b.exited).toBe(0);
      expect(b.out.text).toContain('VDESK-SESSION-END wm-exited');
      expect(b.out.text).toContain('VDESK-ROOT-CLEAN');
    } finally {
      if (b.p.exitCode === null) b.p.kill('SIGKILL');
      await b.exited;
    }
  });
});
