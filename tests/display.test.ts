/**
 * virtio-fb end to end with the real guest: Linux's virtio-gpu DRM driver scans out a known picture
 * (guest/tools/drm-pattern.c); `vdesk screenshot` must show it pixel for pixel, `vdesk resize` must reach
 * the guest as a new preferred mode, and the viewer page in headless Chromium must draw the same picture and
 * drive the guest's resolution from its window size.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, startVdesk, vdesk, type GuestImages } from './guest.js';

const CHROMIUM = '/usr/bin/chromium';

let img: GuestImages;
let dir: string;
beforeAll(() => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-display-'));
});

function manifest(name: string): string {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(
    f,
    JSON.stringify({
      name,
      memory: '256M',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
      ],
    }),
  );
  return f;
}

const runArgs = (m: string, script: string, viewer: boolean) => [
  'run',
  m,
  '--kernel',
  img.kernel,
  '--initrd',
  img.initrd,
  ...(viewer ? [] : ['--no-viewer']),
  '--append',
  `console=ttyS0 ${guestCommand(script)}`,
];

type Rgb = [number, number, number];
const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

/** The colour at the centre of each quadrant, in the order TL, TR, BL, BR. */
function quadrants(width: number, height: number, at: (x: number, y: number) => Rgb): Rgb[] {
  const xs = [width / 4, (3 * width) / 4].map(Math.floor);
  const ys = [height / 4, (3 * height) / 4].map(Math.floor);
  return [at(xs[0], ys[0]), at(xs[1], ys[0]), at(xs[0], ys[1]), at(xs[1], ys[1])];
}

async function screenshot(machine: string, file: string) {
  const r = await vdesk(['screenshot', '--machine', machine, file]);
  expect(r.stderr).toBe('');
  const png = PNG.sync.read(readFileSync(file));
  const at = (x: number, y: number): Rgb => {
    const i = (y * png.width + x) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  return { width: png.width, height: png.height, at };
}

describe('virtio-fb with Linux virtio-gpu', () => {
  it('a DRM client picture reaches vdesk screenshot exactly, and vdesk resize switches the guest mode', async () => {
    const m = manifest('fbshot');
    const a = startVdesk(
      runArgs(m, 'drm-pattern --seconds 600 --wait-mode 800x600', false),
      'DRM-PATTERN-READY 1280x800',
    );
    await a.ready;
    expect(a.out.text).toMatch(/DRM-MODES .*1280x800\*/);
    // The READY line is printed after the flush was queued; give the device a moment to process it.
    await new Promise((r) => setTimeout(r, 500));
    const s1 = await screenshot('fbshot', path.join(dir, 'a.png'));
    expect([s1.width, s1.height]).toEqual([1280, 800]);
    expect(quadrants(s1.width, s1.height, s1.at)).toEqual([RED, GREEN, BLUE, WHITE]);
    // Exact edges: the quadrant boundary is at width/2, height/2.
    expect(s1.at(639, 0)).toEqual(RED);
    expect(s1.at(640, 0)).toEqual(GREEN);
    expect(s1.at(0, 399)).toEqual(RED);
    expect(s1.at(0, 400)).toEqual(BLUE);

    const mark = a.out.text.length;
    const r = await vdesk(['resize', '--machine', 'fbshot', '800x600']);
    expect(r.code).toBe(0);
    await a.waitFor('DRM-PATTERN-READY 800x600', mark);
    await new Promise((r) => setTimeout(r, 500));
    const s2 = await screenshot('fbshot', path.join(dir, 'b.png'));
    expect([s2.width, s2.height]).toEqual([800, 600]);
    expect(quadrants(s2.width, s2.height, s2.at)).toEqual([RED, GREEN, BLUE, WHITE]);

    await vdesk(['shutdown', '--machine', 'fbshot']);
    expect(await a.exited).toBe(0);
  });

  it("the framebuffer console's text appears in the screenshot", async () => {
    const m = manifest('fbcon');
    const script = [
      // The host takes its first screenshot within the 6 s pause (it needs well under one).
      "printf '\\033[?25l\\033[2J\\033[H' > /dev/tty1; sleep 1; echo CLEARED; sleep 6",
      "printf 'HELLO FROM FBCON' > /dev/tty1; sleep 1; echo PRINTED; sleep 600",
    ].join('; ');
    const a = startVdesk(runArgs(m, script, false), 'CLEARED');
    await a.ready;
    // Lit pixels in a rectangle of the screen.
    const lit = (
      s: Awaited<ReturnType<typeof screenshot>>,
      x0: number,
      y0: number,
      x1: number,
      y1: number,
    ) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (s.at(x, y).some((c) => c > 64)) n++;
      return n;
    };
    const before = await screenshot('fbcon', path.join(dir, 'c.png'));
    expect(lit(before, 0, 0, 400, 32)).toBe(0);
    await a.waitFor('PRINTED');
    const after = await screenshot('fbcon', path.join(dir, 'd.png'));
    // 16 characters of an 8-pixel-wide console font: ink in the first 128 columns of the first text row,
    // none to the right of the text or below the row.
    expect(lit(after, 0, 0, 128, 16)).toBeGreaterThan(100);
    expect(lit(after, 136, 0, 400, 32)).toBe(0);
    expect(lit(after, 0, 20, 400, 40)).toBe(0);
    await vdesk(['shutdown', '--machine', 'fbcon']);
    expect(await a.exited).toBe(0);
  });

  it('the viewer page in Chromium draws the guest screen and its window size drives the guest mode', async () => {
    const m = manifest('fbview');
    const a = startVdesk(
      runArgs(m, 'drm-pattern --seconds 600 --wait-mode 1024x640', true),
      'DRM-PATTERN-READY 1280x800',
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      await a.ready;
      const url = /viewer at (http:\/\/\S+)/.exec(a.out.err)?.[1];
      expect(url).toBeDefined();
      // A wrong token gets nothing: the page refuses to serve.
      const bad = await fetch(url!.replace(/token=[^&]+/, 'token=wrong'));
      expect(bad.status).toBe(403);

      const page = await browser.newPage({ viewport: { width: 1024, height: 640 } });
      await page.goto(url!);
      // The page reports its size; the guest sees the new preferred mode and draws again.
      await a.waitFor('DRM-PATTERN-READY 1024x640');
      const pixels = async () =>
        page.evaluate(() => {
          const c = document.getElementById('screen') as HTMLCanvasElement;
          const g = c.getContext('2d')!;
          const px = (x: number, y: number) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
          const w = c.width;
          const h = c.height;
          return {
            w,
            h,
            q: [
              px(w / 4, h / 4),
              px((3 * w) / 4, h / 4),
              px(w / 4, (3 * h) / 4),
              px((3 * w) / 4, (3 * h) / 4),
            ],
          };
        });
      await expect.poll(pixels, { timeout: 20_000, interval: 250 }).toEqual({
        w: 1024,
        h: 640,
        q: [RED, GREEN, BLUE, WHITE],
      });
    } finally {
      await browser.close();
      a.p.kill('SIGTERM');
      await a.exited;
    }
  });
});
