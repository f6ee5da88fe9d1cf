/**
 * The desktop in a web page (apps/web, served by `vdesk web`), in headless Chromium: the whole machine
 * runs in the page's worker and boots to the desktop (the terminal's title bar and white text area in
 * the canvas); a click and typed keys run a command in xterm; a file the guest writes is there after a
 * page reload (the overlay in OPFS), and the disk's chunks come from the OPFS cache then; the reset
 * drops it (and a saved machine); a snapshot restores the running desktop, and the page's Save makes
 * the next visit continue it; the power button shuts the guest down; a failed download shows an error.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PNG } from 'pngjs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, vdeskBin } from './guest.js';

const ACTIVE_TITLE = [0x3c, 0x6e, 0x9c];
const INACTIVE_TITLE = [0x6a, 0x7a, 0x8a];
const WHITE = [255, 255, 255];
/** The page's bar above the screen (apps/web/public/index.html). */
const BAR = 36;
const MiB = 1 << 20;

let server: ChildProcess;
let url: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  // The desktop image (built or reused) and the site.
  execFileSync('bash', [path.join(root, 'guest/desktop/build.sh'), '--print-paths'], { stdio: 'ignore' });
  server = spawn(process.execPath, [vdeskBin, 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    server.on('exit', (code) => reject(new Error(`vdesk web exited (${code}): ${err}`)));
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 + BAR } });
  // The clipboard test reads and writes the page's clipboard.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

interface PageState {
  ready: { ms: number; bytesFetched: number } | null;
  errors: string[];
  console: string;
}
const state = (): Promise<PageState> =>
  page.evaluate(() => {
    const w = (window as unknown as { __vdeskWeb: PageState }).__vdeskWeb;
    return { ready: w.ready, errors: w.errors, console: w.console };
  });

/** Wait for the guest's ready marker (the page's 'ready' event); fails at once on a page error. */
async function waitReady(): Promise<PageState> {
  for (;;) {
    const s = await state();
    if (s.errors.length) throw new Error(`the page shows: ${s.errors.join('; ')}`);
    if (s.ready) return s;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Run a command on the guest's serial console (a root shell) and wait for `until` in its output. */
async function consoleRun(cmd: string, until: RegExp, timeoutMs = 120_000): Promise<string> {
  const mark = (await state()).console.length;
  await page.evaluate((c) => {
    const w = window as unknown as { __vdeskWeb: { machine: { consoleInput(t: string): void } } };
    w.__vdeskWeb.machine.consoleInput(c);
  }, `${cmd}\n`);
  const t0 = Date.now();
  for (;;) {
    const text = (await state()).console.slice(mark);
    if (until.test(text)) return text;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no ${until} on the console after ${cmd}:\n${text}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The canvas as the page shows it (1:1 with the guest's screen at this viewport). */
async function canvasShot() {
  const png = PNG.sync.read(await page.locator('#screen').screenshot());
  const at = (x: number, y: number) => {
    const i = (y * png.width + x) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  const other = (c: number[], x0: number, y0: number, x1: number, y1: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (at(x, y).some((v, i) => v !== c[i])) n++;
    return n;
  };
  return { width: png.width, height: png.height, other };
}

/** The terminal drawn: JWM's title bar (focused or not) over a white text area, at +40+40. */
async function waitTerminal() {
  let s = await canvasShot();
  const drawn = () =>
    Math.min(s.other(ACTIVE_TITLE, 130, 44, 450, 58), s.other(INACTIVE_TITLE, 130, 44, 450, 58)) === 0 &&
    s.other(WHITE, 200, 150, 500, 350) === 0;
  // The session reports ready before xterm's window is mapped and framed: allow for a loaded machine.
  for (let i = 0; i < 60 && !drawn(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    s = await canvasShot();
  }
  return s;
}

describe('the desktop in a web page', () => {
  it('boots to the desktop in the browser, fetching a fraction of the disk', async () => {
    await page.goto(url);
    const s = await waitReady();
    expect(s.console).toContain('VDESK-X-READY');
    const shot = await waitTerminal();
    expect([shot.width, shot.height]).toEqual([1280, 800]);
    expect(
      Math.min(shot.other(ACTIVE_TITLE, 130, 44, 450, 58), shot.other(INACTIVE_TITLE, 130, 44, 450, 58)),
    ).toBe(0);
    expect(shot.other(WHITE, 200, 150, 500, 350)).toBe(0);
    // Lazy: the image is ~200 MiB; the boot reads much less of it.
    expect(s.ready!.bytesFetched).toBeLessThan(100 * MiB);
  });

  it('a click focuses the terminal and typed keys run a command there', async () => {
    await page.mouse.click(300, BAR + 200);
    await new Promise((r) => setTimeout(r, 1500));
    // Physical keys as a person types them, at a person's pace; $((6*7)) so only the shell's answer
    // (not the echoed command line) contains the number.
    await page.keyboard.type('echo web-$((6*7)) ', { delay: 30 });
    await page.keyboard.press('Shift+Period');
    await page.keyboard.type(' ~/persist.txt; sync', { delay: 30 });
    await page.keyboard.press('Enter');
    const out = await consoleRun(
      'for i in $(seq 30); do [ -s /home/user/persist.txt ] && break; sleep 1; done; echo "TYPED-[$(cat /home/user/persist.txt 2>&1)] [$(stat -c %U /home/user/persist.txt 2>&1)] END"',
      /TYPED-\[[^$\]]*\] \[[^$\]]*\] END/,
    );
    expect(out).toMatch(/TYPED-\[web-42\] \[user\]/);
    // On the disk (not only in the page cache) before the page goes away.
    await consoleRun('sync; echo SYNCED-$((1+1))', /SYNCED-2/);
  });

  it('the clipboard goes both ways between the page and the guest (virtio-console agent)', async () => {
    const asUser = (c: string) => `su -s /bin/sh user -c "export DISPLAY=:0; ${c}"`;
    // The agent starts once the desktop is usable.
    await consoleRun(
      'for i in $(seq 200); do grep -q "vdesk-clipboard: running" /home/user/.xsession-errors && break; sleep 1; done; echo AGENT-$((2+3))',
      /AGENT-5/,
      240_000,
    );
    await consoleRun(
      `${asUser('printf web-copy-1 | xclip -selection clipboard >/dev/null 2>&1')}; echo COPY-$((3+4))`,
      /COPY-7/,
    );
    await page.waitForFunction(
      () =>
        (window as unknown as { __vdeskWeb: { clipboard: string | null } }).__vdeskWeb.clipboard ===
        'web-copy-1',
      null,
      { timeout: 240_000 },
    );
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('web-copy-1');
    await page.evaluate(() =>
      (
        window as unknown as { __vdeskWeb: { machine: { setClipboard(t: string): void } } }
      ).__vdeskWeb.machine.setClipboard('web-paste-2'),
    );
    const out = await consoleRun(
      `for i in $(seq 200); do t=$(${asUser('xclip -o -selection clipboard 2>/dev/null')}); [ "$t" = web-paste-2 ] && break; sleep 1; done; echo "PASTE-[$t]"`,
      /PASTE-\[[^$\]]*\]/,
      240_000,
    );
    expect(out).toContain('PASTE-[web-paste-2]');
  });

  it('the file is still there after a page reload, and the disk comes from the OPFS cache', async () => {
    await page.reload();
    const s = await waitReady();
    // The kernel is fetched again (~5 MiB); the disk's chunks are in OPFS.
    expect(s.ready!.bytesFetched).toBeLessThan(12 * MiB);
    const out = await consoleRun(
      'echo "FILE-[$(cat /home/user/persist.txt 2>&1)] END"',
      /FILE-\[[^$\]]*\] END/,
    );
    expect(out).toMatch(/FILE-\[web-42\] END/);
  });

  it('saveState() and start({ restore }) bring the running desktop back without a boot', async () => {
    const r = await page.evaluate(async () => {
      type M = { saveState(): Promise<Uint8Array>; stop(): Promise<void>; start(o: object): Promise<void> };
      const m = (window as unknown as { __vdeskWeb: { machine: M } }).__vdeskWeb.machine;
      const snap = await m.saveState();
      await m.stop();
      const t0 = performance.now();
      await m.start({ restore: snap });
      return { bytes: snap.length, ms: performance.now() - t0 };
    });
    console.log(
      `web: snapshot ${(r.bytes / MiB).toFixed(1)} MiB, restored and running in ${r.ms.toFixed(0)} ms`,
    );
    expect(r.bytes).toBeGreaterThan(MiB);
    // The restored guest answers at once (no boot: no new VDESK-DESKTOP-BOOT), with its files.
    const mark = (await state()).console.length;
    const out = await consoleRun(
      'echo "RESTORED-[$(cat /home/user/persist.txt)] END"',
      /RESTORED-\[[^$\]]*\] END/,
    );
    expect(out).toMatch(/RESTORED-\[web-42\] END/);
    expect((await state()).console.slice(mark)).not.toContain('VDESK-DESKTOP-BOOT');
    const shot = await waitTerminal();
    expect(shot.other(WHITE, 200, 150, 500, 350)).toBe(0);
  });

  it('the Save button keeps the machine in OPFS and the next visit continues it', async () => {
    await page.click('#save');
    await page.waitForFunction(
      () => /^saved /.test(document.getElementById('status')!.textContent ?? ''),
      undefined,
      {
        timeout: 120_000,
      },
    );
    await page.reload();
    const s = await waitReady();
    // Continued, not booted: the page's console (new since the reload) has no boot marker.
    const out = await consoleRun(
      'echo "CONTINUED-[$(cat /home/user/persist.txt)] END"',
      /CONTINUED-\[[^$\]]*\] END/,
    );
    expect(out).toMatch(/CONTINUED-\[web-42\] END/);
    expect((await state()).console).not.toContain('VDESK-DESKTOP-BOOT');
    expect(s.ready!.ms).toBeLessThan(60_000);
  });

  it('the reset button drops the guest’s changes and the saved machine', async () => {
    page.once('dialog', (d) => void d.accept());
    await Promise.all([page.waitForEvent('load', { timeout: 120_000 }), page.click('#reset')]);
    const s = await waitReady();
    expect(s.console).toContain('VDESK-DESKTOP-BOOT');
    const out = await consoleRun(
      'echo "AFTER-[$(cat /home/user/persist.txt 2>/dev/null || echo none)] END"',
      /AFTER-\[[^$\]]*\] END/,
    );
    expect(out).toMatch(/AFTER-\[none\] END/);
  });

  it('the power button shuts the guest down in order (virtio-power)', async () => {
    await page.click('#power');
    await page.waitForFunction(
      () => (window as unknown as { __vdeskWeb: { exit: unknown } }).__vdeskWeb.exit !== null,
      undefined,
      { timeout: 180_000, polling: 500 },
    );
    const exit = await page.evaluate(
      () => (window as unknown as { __vdeskWeb: { exit: unknown } }).__vdeskWeb.exit,
    );
    expect(exit).toEqual({ kind: 'poweroff', code: 0, reason: 'power-off' });
    // The guest left its root filesystem clean before powering off (vdesk-init).
    expect((await state()).console).toContain('VDESK-ROOT-CLEAN');
    expect(await page.locator('#status').textContent()).toBe('powered off (exit 0)');
  });

  it('a failed download shows an error on the page, not a blank page', async () => {
    for (const [what, urls, re] of [
      ['kernel', { kernel: `${url}images/missing` }, /kernel .*images\/missing: HTTP 404/],
      [
        'disk',
        { kernel: `${url}images/Image`, disks: { 'rootfs.ext4': `${url}images/nope.ext4` } },
        /images\/nope\.ext4: HTTP 404/,
      ],
    ] as const) {
      const manifest = {
        name: `broken-${what}`,
        memory: '256M',
        devices: [
          { package: '@virtio-desktop/virtio-blk', options: { image: 'rootfs.ext4', overlay: true } },
        ],
      };
      const config = `data:application/json,${encodeURIComponent(JSON.stringify({ manifest, urls }))}`;
      const p = await context.newPage();
      try {
        await p.goto(`${url}?config=${encodeURIComponent(config)}`);
        const box = p.locator('#error');
        await box.waitFor({ state: 'visible', timeout: 60_000 });
        expect(await box.textContent(), what).toMatch(re);
      } finally {
        await p.close();
      }
    }
  });
});
