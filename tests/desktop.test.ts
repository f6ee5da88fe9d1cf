/**
 * The desktop image end to end (guest/desktop/build.sh): our machine boots Debian's Xorg on virtio-gpu
 * from an ext4 root on virtio-blk; JWM's panel and an xterm appear in `vdesk screenshot`; a click
 * focuses the terminal and typed text runs there; the viewer page in headless Chromium resizes the
 * desktop through RandR and the panel follows; closing the terminal leaves the session running; the
 * panel's menu starts a terminal, the file manager and the text editor; the guest gets its address by
 * DHCP and the browser shows a page served by the test on the host's loopback; `vdesk shutdown` leaves
 * the filesystem clean. `vdesk run` with no arguments boots it, and the menu's "Log out (power off)"
 * powers it off.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desktopImage, startVdesk, vdesk, type DesktopImage, type RunningVdesk } from './guest.js';

const NAME = 'desktop-test';
// Colours the image's session and JWM configuration draw with (rootfs/usr/local/bin/vdesk-session,
// rootfs/home/user/.jwmrc).
const BACKGROUND = [0x2f, 0x5f, 0x8f];
const ACTIVE_TITLE = [0x3c, 0x6e, 0x9c];
const INACTIVE_TITLE = [0x6a, 0x7a, 0x8a];
const PANEL = [0x1f, 0x3b, 0x57];
const WHITE = [255, 255, 255];
const MENU = [0xf0, 0xf0, 0xf0];
// The panel is 30 pixels high along the bottom; its "Menu" button is at its left end.
const PANEL_H = 30;
// The page the guest's browser opens, served by the test on the host's loopback: the user-mode
// network's gateway 10.0.2.2 forwards to the host's 127.0.0.1.
const PAGE_TITLE = 'Served by the desktop test';
const PAGE = `<html><head><title>${PAGE_TITLE}</title></head><body><h1>Hello from the host</h1></body></html>`;

let d: DesktopImage;
let dir: string;
let disk: string;
let a: RunningVdesk;
let server: Server;
let port: number;
const served: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    served.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
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
        // The user-mode network, as `vdesk run` gives by default.
        { package: '@virtio-desktop/virtio-net', options: { backend: 'user' } },
      ],
    }),
  );
  a = startVdesk(['run', manifest, '--kernel', d.kernel, '--append', d.append], 'VDESK-DESKTOP-READY');
  await a.ready;
});

afterAll(() => {
  if (a && a.p.exitCode === null) a.p.kill('SIGKILL');
  server?.close();
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
async function consoleRun(cmd: string, until: RegExp, timeoutMs = 60_000): Promise<string> {
  const mark = a.out.text.length;
  a.p.stdin!.write(`${cmd}\n`);
  await a.waitFor(until, mark, timeoutMs);
  return a.out.text.slice(mark);
}

/**
 * Wait (in the guest, up to `seconds` of its uptime) until a viewable window whose xwininfo line
 * (`0xID "name": ("instance" "Class") ...`) matches the extended regular expression `pattern` (name
 * it: toolkits' unnamed helper windows never map) exists. Resolves with that line, or '' and the
 * windows and processes there are (for the failure message). Program start-up on an emulated CPU
 * takes seconds; on a loaded machine, tens of them.
 */
async function waitWindow(pattern: string, seconds = 150): Promise<{ line: string; why: string }> {
  const out = await consoleRun(
    `end=$(($(cut -d. -f1 /proc/uptime) + ${seconds})); while :; do ` +
      `l=$(DISPLAY=:0 xwininfo -root -tree | grep -E '${pattern}' | head -n 1); ` +
      `id=$(echo "$l" | sed -n 's/^ *\\(0x[0-9a-f]*\\) .*/\\1/p'); ` +
      `[ -n "$id" ] && DISPLAY=:0 xwininfo -id "$id" | grep -q IsViewable && break; l=; ` +
      `[ $(cut -d. -f1 /proc/uptime) -lt $end ] || break; sleep 2; done; ` +
      `[ -n "$l" ] || { DISPLAY=:0 xwininfo -root -tree | grep '"'; ps -o pid,stat,time,args | grep -v ' \\['; }; ` +
      `echo "WIN-[$l]-END"`,
    /WIN-\[[^$\]]*\]-END/,
    (seconds + 60) * 1000,
  );
  return { line: /WIN-\[([^$\]]*)\]-END/.exec(out)?.[1] ?? '', why: out };
}

// The menu's entries, top to bottom (rootfs/home/user/.jwmrc).
const MENU_ENTRIES = [
  'Terminal',
  'Files',
  'Text editor',
  'Web browser',
  'nano',
  'Clock',
  'Restart',
  'Log out',
];

/**
 * Open the panel's menu with a click on its "Menu" button and find its entries in a screenshot: the
 * rows of dark (text) pixels inside the light menu, taller than a separator line. Resolves with the
 * centre of each entry, top to bottom.
 */
async function openMenu(machine = NAME): Promise<{ x: number; y: number }[]> {
  const s0 = await screenshot('before-menu.png', machine);
  const r = await vdesk(['click', '--machine', machine, '20', String(s0.height - PANEL_H / 2)]);
  expect(r.code).toBe(0);
  let entries: { x: number; y: number }[] = [];
  // JWM draws the menu at once; a loaded machine may take a while.
  for (let tries = 0; tries < 20 && entries.length !== MENU_ENTRIES.length; tries++) {
    await new Promise((res) => setTimeout(res, 1000));
    const s = await screenshot('menu.png', machine);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
    for (let y = Math.floor(s.height / 3); y < s.height - PANEL_H; y++)
      for (let x = 0; x < Math.min(400, s.width); x++)
        if (s.other(MENU, x, y, x + 1, y + 1) === 0)
          [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    if (y1 - y0 < 100) continue;
    const dark = (y: number) => {
      for (let x = x0 + 2; x < x1 - 2; x++) if (s.at(x, y).reduce((p, v) => p + v, 0) < 300) return true;
      return false;
    };
    entries = [];
    for (let y = y0; y <= y1; y++) {
      if (!dark(y)) continue;
      let e = y;
      while (e + 1 <= y1 && dark(e + 1)) e++;
      if (e - y >= 5) entries.push({ x: Math.round((x0 + x1) / 2), y: Math.round((y + e) / 2) });
      y = e;
    }
  }
  return entries;
}

async function pickFromMenu(entry: string, machine = NAME) {
  const entries = await openMenu(machine);
  expect(entries.length, 'the menu shows its entries').toBe(MENU_ENTRIES.length);
  const e = entries[MENU_ENTRIES.indexOf(entry)];
  expect((await vdesk(['click', '--machine', machine, String(e.x), String(e.y)])).code).toBe(0);
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

  it('the desktop appears: background, the panel along the bottom and a white terminal', async () => {
    await cli('move', '900', '600');
    // The terminal's shell reports before xterm's window is mapped and framed: on a loaded machine
    // that can take seconds more.
    const drawn = (s: Awaited<ReturnType<typeof screenshot>>) =>
      Math.min(s.other(ACTIVE_TITLE, 130, 44, 450, 58), s.other(INACTIVE_TITLE, 130, 44, 450, 58)) === 0 &&
      s.other(WHITE, 200, 150, 500, 350) === 0;
    let s = await screenshot('desktop.png');
    for (let i = 0; i < 30 && !drawn(s); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      s = await screenshot('desktop.png');
    }
    expect([s.width, s.height]).toEqual([1280, 800]);
    for (const [x, y] of [[900, 600], [5, 700], [640, 500], [1270, 700]]) expect(s.at(x, y)).toEqual(BACKGROUND); // prettier-ignore
    // The panel: its colour across the bottom, between the task list and the clock.
    expect(s.other(PANEL, 600, 800 - PANEL_H + 2, 1150, 798)).toBe(0);
    // The terminal at +40+40: JWM's title bar above it (focused or not), an 80x24 white text area below.
    expect(Math.min(s.other(ACTIVE_TITLE, 130, 44, 450, 58), s.other(INACTIVE_TITLE, 130, 44, 450, 58))).toBe(
      0,
    );
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
      // JWM draws the focused window's title bar in the active colour.
      expect(s.other(ACTIVE_TITLE, 130, 44, 450, 58)).toBe(0);
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

  it('the viewer in Chromium drives the desktop size through RandR; the panel follows', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const mark = a.out.text.length;
      const page = await browser.newPage({ viewport: { width: 1024, height: 640 } });
      await page.goto(viewerUrl());
      await a.waitFor('VDESK-DISPLAY 1024x640', mark);
      // JWM moves its panel to the new bottom edge when it sees the root window's new size.
      let s = await screenshot('resized.png');
      for (let i = 0; i < 20 && s.other(PANEL, 500, 640 - PANEL_H + 2, 900, 638) !== 0; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        s = await screenshot('resized.png');
      }
      expect([s.width, s.height]).toEqual([1024, 640]);
      expect(s.at(1000, 400)).toEqual(BACKGROUND);
      expect(s.other(WHITE, 200, 150, 500, 350)).toBe(0);
      expect(s.other(PANEL, 500, 640 - PANEL_H + 2, 900, 638)).toBe(0);
      // The page draws the resized desktop too.
      const canvas = () =>
        page.evaluate(() => {
          const c = document.getElementById('screen') as HTMLCanvasElement;
          const px = Array.from(c.getContext('2d')!.getImageData(1000, 400, 1, 1).data.slice(0, 3));
          return { w: c.width, h: c.height, px };
        });
      await expect
        .poll(canvas, { timeout: 20_000, interval: 250 })
        .toEqual({ w: 1024, h: 640, px: BACKGROUND });
    } finally {
      await browser.close();
    }
  });

  it('closing the terminal leaves the session running; the menu starts another', async () => {
    // The terminal has the focus (the click above): type `exit` in it, as a person closes it.
    await cli('click', '300', '200');
    await new Promise((r) => setTimeout(r, 500));
    await cli('type', 'exit');
    await cli('key', 'enter');
    const gone = await consoleRun(
      'for i in $(seq 60); do pidof xterm >/dev/null || break; sleep 1; done; echo "XTERM-[$(pidof xterm)] JWM-[$(pidof jwm)] END"',
      /XTERM-\[[^$\]]*\] JWM-\[[^$\]]*\] END/,
      90_000,
    );
    expect(gone).toMatch(/XTERM-\[\] JWM-\[\d+\] END/);
    await new Promise((r) => setTimeout(r, 2000));
    expect(a.out.text).not.toContain('VDESK-SESSION-END');
    expect(a.p.exitCode).toBe(null);
    await pickFromMenu('Terminal');
    const w = await waitWindow('"[^"]*": \\("xterm" "XTerm"\\)');
    expect(w.line, w.why).toMatch(/"xterm" "XTerm"/);
  });

  it("the panel's menu starts the file manager and the text editor", async () => {
    await pickFromMenu('Files');
    const files = await waitWindow('"[^"]*": \\("xfe" "Xfe"\\)');
    expect(files.line, `the file manager (xfe) shows its window\n${files.why}`).toMatch(/"xfe"/);
    await pickFromMenu('Text editor');
    const editor = await waitWindow('"[^"]*": \\("xfw" "Xfe"\\)');
    expect(editor.line, `the text editor (xfw) shows its window\n${editor.why}`).toMatch(/"xfw"/);
    // Both are in the screenshot: much of the screen is no longer the background.
    const s = await screenshot('apps.png');
    expect(s.other(BACKGROUND, 0, 0, s.width, s.height - PANEL_H)).toBeGreaterThan((s.width * s.height) / 3);
  });

  it("the guest gets its address by DHCP; the browser shows a page from the host's loopback", async () => {
    await a.waitFor('VDESK-NET eth0 ip=10.0.2.15', 0, 60_000);
    // The file arrives intact over the user-mode network's TCP (busybox wget).
    const want = createHash('sha256').update(PAGE).digest('hex');
    const got = await consoleRun(
      `echo "SUM-[$(wget -q -O - http://10.0.2.2:${port}/check | sha256sum | cut -c1-64)]-END"`,
      /SUM-\[[0-9a-f]{64}\]-END/,
    );
    expect(got).toContain(`SUM-[${want}]-END`);
    // Dillo renders the page; its window's title is the page's.
    await consoleRun(
      `su user -c 'cd; DISPLAY=:0 dillo http://10.0.2.2:${port}/page >/dev/null 2>&1 &'; echo STARTED-$((6*7))`,
      /STARTED-42/,
    );
    const w = await waitWindow(`"Dillo: ${PAGE_TITLE}"`);
    expect(w.line, w.why).toContain(PAGE_TITLE);
    expect(served).toContain('/page');
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

  it('vdesk run with no arguments boots the desktop image with its network; the menu\'s "Log out" powers it off', async () => {
    const machine = 'desktop-default';
    const b = startVdesk(['run', '--no-viewer', '--name', machine], 'VDESK-DESKTOP-READY');
    try {
      await b.ready;
      expect(b.out.err).toContain(`booting the desktop image ${d.image}`);
      // `vdesk run` gives the machine its user-mode network by default; the image takes its lease.
      await b.waitFor('VDESK-NET eth0 ip=10.0.2.15', 0, 90_000);
      await pickFromMenu('Log out', machine);
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
