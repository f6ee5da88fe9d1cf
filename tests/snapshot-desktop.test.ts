/**
 * Issue 18 with the desktop image (guest/desktop/build.sh): the running desktop is saved with
 * `vdesk snapshot`, the machine killed, and `vdesk run --restore` brings it back in a new process: the
 * first screenshot already shows the desktop (the display's state is restored, not redrawn by the
 * guest), and a command typed into the restored xterm draws its output, seen in a screenshot. The same
 * with the harts on threads (issue 17): the threaded desktop boots, draws and takes input, is saved
 * with its harts held in their workers, and comes back on threads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desktopImage, startVdesk, vdesk, writeDesktopManifest, type RunningVdesk } from './guest.js';

// The image's colours (rootfs/home/user/.jwmrc): JWM's title bars; the terminal is white.
const ACTIVE_TITLE = [0x3c, 0x6e, 0x9c];
const INACTIVE_TITLE = [0x6a, 0x7a, 0x8a];
const WHITE = [255, 255, 255];
const BLACK = [0, 0, 0];
// The terminal at +40+40: its title bar and a part of its 80x24 text area (as in desktop.test.ts).
const TITLE = [130, 44, 450, 58] as const;
const TEXT = [200, 150, 500, 350] as const;

let dir: string;
let a: RunningVdesk | undefined;
let b: RunningVdesk | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-snap-desktop-'));
  // Our own control sockets: machines of other tests or people never answer our requests.
  process.env.VDESK_RUNTIME_DIR = path.join(dir, 'run');
});

afterAll(() => {
  for (const v of [a, b]) if (v && v.p.exitCode === null) v.p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function screenshot(name: string) {
  const file = path.join(dir, name);
  let r = await vdesk(['screenshot', file]);
  // Right after a restore the control socket may not be listening yet.
  for (let i = 0; i < 100 && /no running machine/.test(r.stderr); i++) {
    await new Promise((res) => setTimeout(res, 200));
    r = await vdesk(['screenshot', file]);
  }
  expect(r.code, r.stderr).toBe(0);
  const png = PNG.sync.read(readFileSync(file));
  const at = (x: number, y: number) => {
    const i = (y * png.width + x) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  /** Pixels in the box whose colour is not `c`. */
  const other = (c: number[], [x0, y0, x1, y1]: readonly number[]) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (at(x, y).some((v, i) => v !== c[i])) n++;
    return n;
  };
  return { width: png.width, height: png.height, other };
}
type Shot = Awaited<ReturnType<typeof screenshot>>;

/** The terminal is on the screen: its title bar (focused or not) and its white text area. */
const terminalShown = (s: Shot): boolean =>
  Math.min(s.other(ACTIVE_TITLE, TITLE), s.other(INACTIVE_TITLE, TITLE)) === 0 && s.other(WHITE, TEXT) === 0;

async function cli(...args: string[]): Promise<void> {
  const r = await vdesk(args);
  expect(r.code, r.stderr).toBe(0);
}

describe('a snapshot of the desktop', () => {
  it.each<[string, string[]]>([
    ['on one thread', []],
    ['with the harts on threads', ['--threads', '--log-level', 'info']],
  ])('%s: restores to the same screen, and the terminal runs a command typed into it', async (_, flags) => {
    const d = desktopImage();
    const manifest = path.join(dir, 'desktop.json');
    // Copy-on-write: the changes go into the snapshot, the cached image is referenced by hash.
    writeDesktopManifest(manifest, 'snap-desktop', d, [
      { package: '@virtio-desktop/virtio-net', options: { backend: 'user' } },
    ]);
    a = startVdesk(['run', manifest, '--no-viewer', ...flags], 'VDESK-DESKTOP-READY');
    await a.ready;
    const threaded = flags.includes('--threads');
    if (threaded) expect(a.out.err).toMatch(/threads: 2 harts on workers\n/);
    await cli('move', '900', '600'); // the pointer out of the terminal's text area
    // The shell reports before xterm's window is mapped and framed: on a loaded machine that takes a while.
    let s = await screenshot('cold.png');
    for (let i = 0; i < 60 && !terminalShown(s); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      s = await screenshot('cold.png');
    }
    expect(terminalShown(s), 'the cold-booted desktop shows its terminal').toBe(true);

    const file = path.join(dir, 'desktop.vdsnap');
    const snap = await vdesk(['snapshot', file], { timeoutMs: 300_000 });
    expect(snap.code, snap.stderr).toBe(0);
    expect(snap.stdout).toMatch(/desktop\.vdsnap: [\d.]+ MiB \(guest RAM 1024\.0 MiB/);
    a.p.kill('SIGKILL');
    await a.exited;

    const t0 = performance.now();
    // The snapshot's own manifest: threads when the machine ran on threads.
    b = startVdesk(
      ['run', '--restore', file, '--no-viewer', ...(threaded ? ['--log-level', 'info'] : [])],
      'VDESK-NEVER-PRINTED',
    );
    b.ready.catch(() => {}); // a restored guest prints no boot marker
    // The control socket comes up once the machine is restored: its first screenshot is the desktop.
    for (let i = 0; i < 600 && !/vdesk: restored /.test(b.out.err); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(b.out.err).toMatch(/vdesk: restored .*desktop\.vdsnap \(taken .*\) in \d+ ms/);
    expect(terminalShown(await screenshot('restored.png')), 'the restored screen, at once').toBe(true);

    // A command whose output only the shell can produce (the typed line holds no such run of cells):
    // 2,000 spaces in reverse video turn the terminal's text area black.
    await cli('click', '300', '200');
    await cli('type', 'printf "\\033[7m%$((1000*2))s" \'\'\n');
    let black = 0;
    const area = (TEXT[2] - TEXT[0]) * (TEXT[3] - TEXT[1]);
    for (let i = 0; i < 120 && black < 0.95 * area; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      black = area - (await screenshot('typed.png')).other(BLACK, TEXT);
    }
    console.log(
      `restore to the typed command's output on the screen: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(black, "the command's output in the terminal").toBeGreaterThanOrEqual(0.95 * area);
    // Printed once run() has spawned the workers, after the "restored" line.
    if (threaded) expect(b.out.err).toMatch(/threads: 2 harts on workers\n/);
    b.p.kill('SIGKILL');
    await b.exited;
  });
});
