/**
 * Issue 20: the desktop menu's "Reboot" (guest/desktop: ~/.jwmrc, vdesk-reboot, vdesk-session,
 * vdesk-init) ends the session, leaves / clean and reboots the machine through virtio-power: the same
 * `vdesk run` boots the desktop a second time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desktopImage, startVdesk, vdesk, writeDesktopManifest, type RunningVdesk } from './guest.js';

// The menu's colour and the panel's height (rootfs/home/user/.jwmrc), and its entries, top to bottom.
const MENU = [0xf0, 0xf0, 0xf0];
const PANEL_H = 30;
const ENTRIES = ['Terminal', 'Files', 'Text editor', 'Web browser', 'nano', 'Clock', 'Reboot', 'Log out'];

let dir: string;
let a: RunningVdesk | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-desktop-reboot-'));
  process.env.VDESK_RUNTIME_DIR = path.join(dir, 'run');
});

afterAll(() => {
  if (a && a.p.exitCode === null) a.p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function screenshot() {
  const file = path.join(dir, 'menu.png');
  const r = await vdesk(['screenshot', file]);
  expect(r.code, r.stderr).toBe(0);
  return PNG.sync.read(readFileSync(file));
}

/** The menu's entries found in a screenshot: rows of dark text inside its light box (as desktop.test.ts). */
async function openMenu(): Promise<{ x: number; y: number }[]> {
  const s0 = await screenshot();
  expect((await vdesk(['click', '20', String(s0.height - PANEL_H / 2)])).code).toBe(0);
  for (let tries = 0; tries < 30; tries++) {
    await new Promise((r) => setTimeout(r, 1000));
    const s = await screenshot();
    const at = (x: number, y: number) => {
      const i = (y * s.width + x) * 4;
      return [s.data[i], s.data[i + 1], s.data[i + 2]];
    };
    let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
    for (let y = Math.floor(s.height / 3); y < s.height - PANEL_H; y++)
      for (let x = 0; x < Math.min(400, s.width); x++)
        if (at(x, y).every((v, i) => v === MENU[i]))
          [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    if (y1 - y0 < 100) continue;
    const dark = (y: number) => {
      for (let x = x0 + 2; x < x1 - 2; x++) if (at(x, y).reduce((p, v) => p + v, 0) < 300) return true;
      return false;
    };
    const entries: { x: number; y: number }[] = [];
    for (let y = y0; y <= y1; y++) {
      if (!dark(y)) continue;
      let e = y;
      while (e + 1 <= y1 && dark(e + 1)) e++;
      if (e - y >= 5) entries.push({ x: Math.round((x0 + x1) / 2), y: Math.round((y + e) / 2) });
      y = e;
    }
    if (entries.length === ENTRIES.length) return entries;
  }
  return [];
}

describe('the desktop menu', () => {
  it('"Reboot" reboots the machine through virtio-power, and the desktop comes back in the same process', async () => {
    const d = desktopImage();
    const manifest = path.join(dir, 'desktop.json');
    writeDesktopManifest(manifest, 'desktop-reboot', d);
    a = startVdesk(['run', manifest, '--no-viewer', '--log-level', 'info'], 'VDESK-DESKTOP-READY');
    await a.ready;
    const entries = await openMenu();
    expect(entries.length, 'the menu shows its entries').toBe(ENTRIES.length);
    const e = entries[ENTRIES.indexOf('Reboot')];
    const mark = a.out.text.length;
    expect((await vdesk(['click', String(e.x), String(e.y)])).code).toBe(0);
    await a.waitFor(/VDESK-SESSION-END wm-exited.* reboot/, mark, 300_000);
    await a.waitFor('VDESK-ROOT-CLEAN', mark, 120_000);
    // The machine resets in the same process (virtio-power's reboot command) and boots the desktop again.
    await a.waitFor(/VDESK-DESKTOP-BOOT[^]*VDESK-DESKTOP-READY/, mark, 600_000);
    expect(a.p.exitCode).toBe(null);
    expect(a.out.err).toMatch(/guest asks for reboot|guest requested reboot/);
  });
});
