/**
 * The clipboard between the viewer's page and the guest, end to end (spec/clipboard.md): the desktop
 * image's agent (vdesk-clipboard) on the virtio-console port "org.virtio-desktop.clipboard.0". Text a
 * guest program puts in the CLIPBOARD selection (xclip, as a user in the X session) reaches the page in
 * headless Chromium and its clipboard; text put in the page's clipboard reaches the guest's CLIPBOARD
 * (read back with xclip -o) when the page gets the focus, and a paste in the page does the same. UTF-8
 * survives both ways.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desktopImage, startVdesk, vdesk, writeDesktopManifest, type RunningVdesk } from './guest.js';

declare global {
  interface Window {
    /** The viewer page's state (apps/cli/src/viewer/client.ts). */
    __vdesk: { clipboard: string | null };
  }
}

const NAME = 'clipboard-test';
/** A bound for a stalled host, not a speed assumption: passing runs wait for guest markers. */
const WITHIN_MS = 240_000;

let a: RunningVdesk;
let dir: string;
let browser: Browser;
let page: Page;

/** Run a command in the root shell on the serial console; resolves with the console text after it. */
async function consoleRun(cmd: string, until: RegExp, timeoutMs = WITHIN_MS): Promise<string> {
  const mark = a.out.text.length;
  a.p.stdin!.write(`${cmd}\n`);
  await a.waitFor(until, mark, timeoutMs);
  return a.out.text.slice(mark);
}

/** A shell command run as the session's user on the X display. */
const asUser = (cmd: string): string =>
  `su -s /bin/sh user -c "export DISPLAY=:0; ${cmd.replace(/"/g, '\\"')}"`;

/** The guest's CLIPBOARD as hex bytes (the console is read as Latin-1), once it equals `want`. */
async function guestClipboardBecomes(want: string): Promise<string> {
  const hex = Buffer.from(want, 'utf8').toString('hex');
  const out = await consoleRun(
    `end=$(($(cut -d. -f1 /proc/uptime) + 200)); while :; do ` +
      `h=$(${asUser('xclip -o -selection clipboard 2>/dev/null')} | od -An -tx1 | tr -d ' \\n'); ` +
      `[ "$h" = ${hex} ] && break; [ $(cut -d. -f1 /proc/uptime) -ge $end ] && break; sleep 1; done; ` +
      'echo "CLIP-HEX=[$h]"',
    /CLIP-HEX=\[[0-9a-f]*\]/,
  );
  return /CLIP-HEX=\[([0-9a-f]*)\]/.exec(out)?.[1] ?? '';
}

function viewerUrl(): string {
  const url = /viewer at (http:\/\/\S+)/.exec(a.out.err)?.[1];
  if (!url) throw new Error('vdesk printed no viewer URL');
  return url;
}

beforeAll(async () => {
  const d = desktopImage();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-clipboard-'));
  const manifest = path.join(dir, 'desktop.json');
  writeDesktopManifest(manifest, NAME, d, [{ package: '@virtio-desktop/virtio-console' }]);
  a = startVdesk(['run', manifest], 'VDESK-DESKTOP-READY');
  await a.ready;
  // The agent starts once the desktop is usable; it says so in the session's log once it has the port.
  await consoleRun(
    'for i in $(seq 200); do grep -q "vdesk-clipboard: running" /home/user/.xsession-errors && break; sleep 1; done; ' +
      'p=$(pidof vdesk-clipboard); echo "AGENT-$(grep -c "vdesk-clipboard: running" /home/user/.xsession-errors)-LOG ' +
      'ticks [$([ -n "$p" ] && cut -d" " -f14,15 /proc/$p/stat)]"',
    /AGENT-\d+-LOG ticks \[[\d ]*\]/,
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const origin = new URL(viewerUrl()).origin;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  page = await context.newPage();
  await page.goto(viewerUrl());
  await page.waitForFunction(() => (document.getElementById('screen') as HTMLCanvasElement).width > 0);
}, 900_000);

afterAll(async () => {
  await browser?.close();
  if (a && a.p.exitCode === null) {
    await vdesk(['shutdown', '--machine', NAME]);
    const t = setTimeout(() => a.p.kill('SIGKILL'), 60_000);
    await a.exited;
    clearTimeout(t);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('clipboard', () => {
  it('the guest has the agent on its port', () => {
    expect(a.out.text).toMatch(/AGENT-[1-9]\d*-LOG/);
    const ticks = /AGENT-\d+-LOG ticks \[(\d+) (\d+)\]/.exec(a.out.text);
    if (ticks)
      console.log(`agent start-up: ${Number(ticks[1]) + Number(ticks[2])} clock ticks (1/100 s) of CPU`);
    console.log(
      /time to a usable desktop [^\n]*/.exec(a.out.err)?.[0] ?? 'no time to a usable desktop printed',
    );
  });

  it('text copied in the guest is read from the page and its clipboard', async () => {
    const text = 'copied in the guest: café ✓';
    // printf's octal escapes: the serial console carries the command as bytes.
    const escaped = [...Buffer.from(text, 'utf8')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
    await consoleRun(
      `${asUser(`printf '${escaped}' | xclip -selection clipboard >/dev/null 2>&1`)}; echo COPIED-$((40 + 2))`,
      /COPIED-42/,
    );
    const seen = await page
      .waitForFunction((t) => window.__vdesk.clipboard === t, text, { timeout: WITHIN_MS })
      .then(() => 'seen')
      .catch(
        async () =>
          `not seen: the page has ${JSON.stringify(await page.evaluate(() => window.__vdesk.clipboard))}`,
      );
    expect(seen).toBe('seen');
    await page.bringToFront();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(text);
  });

  it('text in the page clipboard reaches the guest when the page gets the focus', async () => {
    const text = 'from the page — naïve ✓ 1';
    await page.evaluate((t) => navigator.clipboard.writeText(t), text);
    await page.evaluate(() => window.dispatchEvent(new Event('focus')));
    expect(await guestClipboardBecomes(text)).toBe(Buffer.from(text, 'utf8').toString('hex'));
  });

  it('a paste in the page gives the guest the pasted text', async () => {
    const text = 'pasted into the page 2';
    await page.evaluate((t) => {
      const data = new DataTransfer();
      data.setData('text/plain', t);
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }));
    }, text);
    expect(await guestClipboardBecomes(text)).toBe(Buffer.from(text, 'utf8').toString('hex'));
  });

  it('a copy in the guest after that reaches the page again (the agent gave up the selection)', async () => {
    const text = 'second guest copy';
    await consoleRun(
      `${asUser(`printf '${text}' | xclip -selection clipboard >/dev/null 2>&1`)}; echo COPIED-$((40 + 3))`,
      /COPIED-43/,
    );
    await page.waitForFunction((t) => window.__vdesk.clipboard === t, text, { timeout: WITHIN_MS });
  });

  it('the idle agent costs no CPU: 30 s of guest time asleep in poll()', async () => {
    const out = await consoleRun(
      'p=$(pidof vdesk-clipboard); s=$(cut -d" " -f14,15 /proc/$p/stat); sleep 30; ' +
        'e=$(cut -d" " -f14,15 /proc/$p/stat); ' +
        'echo "AGENT-TICKS [$s] [$e] RSS $(awk \'/VmRSS/ {print $2}\' /proc/$p/status) kB"',
      /AGENT-TICKS \[\d+ \d+\] \[\d+ \d+\] RSS \d+ kB/,
    );
    const m = /AGENT-TICKS \[(\d+) (\d+)\] \[(\d+) (\d+)\] RSS (\d+) kB/.exec(out)!;
    const [u0, s0, u1, s1] = m.slice(1, 5).map(Number);
    console.log(
      `agent: ${u0 + s0} clock ticks of CPU since it started, ${u1 + s1 - u0 - s0} in 30 s idle, RSS ${m[5]} kB`,
    );
    expect(u1 + s1 - (u0 + s0)).toBeLessThanOrEqual(1);
  });
});
