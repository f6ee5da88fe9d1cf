/**
 * Helpers for integration tests with a real Linux guest: build (or reuse) the guest image with
 * guest/build.sh, and run the built `vdesk` CLI as a user would.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export const root = path.resolve(__dirname, '..');
export const vdeskBin = path.join(root, 'apps/cli/dist/index.js');
export const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';

export interface GuestImages {
  kernel: string;
  initrd: string;
  kbuild: string;
}

/** Run a guest build script (cached after the first time) and read the KEY=value lines it prints. */
function build(script: string, keys: readonly string[]): Record<string, string> {
  const out = execFileSync('bash', [path.join(root, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  const got: Record<string, string> = {};
  for (const k of keys) {
    const m = new RegExp(`^${k}=(.*)$`, 'm').exec(out);
    if (!m) throw new Error(`${script} printed no ${k}=`);
    got[k] = m[1];
  }
  return got;
}

/** Build the guest image if needed (minutes the first time, cached after) and return its paths. */
export function guestImages(): GuestImages {
  const g = build('guest/build.sh', ['KERNEL', 'INITRD', 'KBUILD']);
  return { kernel: g.KERNEL, initrd: g.INITRD, kbuild: g.KBUILD };
}

export interface DesktopImage {
  image: string;
  kernel: string;
  append: string;
}

/** Build the desktop image if needed (guest/desktop/build.sh) and return its disk, kernel and command line. */
export function desktopImage(): DesktopImage {
  const g = build('guest/desktop/build.sh', ['DESKTOP_IMAGE', 'KERNEL', 'APPEND']);
  return { image: g.DESKTOP_IMAGE, kernel: g.KERNEL, append: g.APPEND };
}

/**
 * Write the desktop's manifest to `file`: 2 harts, 1 GiB, virtio-power, the image copy-on-write, a
 * 1280×800 display, keyboard and pointer, then `more` devices.
 */
export function writeDesktopManifest(file: string, name: string, d: DesktopImage, more: object[] = []): void {
  writeFileSync(
    file,
    JSON.stringify({
      name,
      memory: '1G',
      cpus: 2,
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-blk', options: { image: d.image, overlay: true } },
        { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
        { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
        { package: '@virtio-desktop/virtio-input', device: 'pointer' },
        ...more,
      ],
      boot: { kernel: d.kernel, cmdline: d.append },
    }),
  );
}

export interface VdeskResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run `vdesk <args>`; optional text is written to its stdin after `waitFor` appears on stdout. */
export function vdesk(
  args: string[],
  opts: { input?: string; waitFor?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<VdeskResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [vdeskBin, ...args], {
      cwd: root,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
      if (opts.input !== undefined && !sent && (!opts.waitFor || stdout.includes(opts.waitFor))) {
        sent = true;
        p.stdin.write(opts.input);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Kernel command-line argument that makes the test image's /init run `script` and power off. */
export function guestCommand(script: string): string {
  return `vdesk.cmd=${Buffer.from(script).toString('base64')}`;
}

/**
 * `vdesk run` of the test kernel and initramfs with `script` as the guest's command (console on ttyS0),
 * then `extra` flags; `opts` as for {@link vdesk}.
 */
export function bootScript(
  img: GuestImages,
  script: string,
  extra: string[],
  opts: Parameters<typeof vdesk>[1] = {},
): Promise<VdeskResult> {
  const append = `console=ttyS0 ${guestCommand(script)}`;
  return vdesk(['run', '--kernel', img.kernel, '--initrd', img.initrd, '--append', append, ...extra], opts);
}

/** A running `vdesk`; `ready` resolves when the console shows the marker, `exited` with the exit code. */
export interface RunningVdesk {
  p: ChildProcess;
  out: { text: string; err: string };
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** Resolves when the console shows `marker` after offset `from`; rejects after `timeoutMs` if given. */
  waitFor(marker: string | RegExp, from?: number, timeoutMs?: number): Promise<void>;
}

/** Start vdesk and resolve `ready` when its console shows `marker`. */
export function startVdesk(args: string[], marker: string): RunningVdesk {
  const p = spawn(process.execPath, [vdeskBin, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { text: '', err: '' };
  p.stdout!.on('data', (d: Buffer) => (out.text += d.toString('latin1')));
  p.stderr!.on('data', (d: Buffer) => (out.err += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  const waitFor = (m: string | RegExp, from = 0, timeoutMs = Infinity) =>
    new Promise<void>((resolve, reject) => {
      const seen = () => (typeof m === 'string' ? out.text.includes(m, from) : m.test(out.text.slice(from)));
      const deadline = performance.now() + timeoutMs;
      const t = setInterval(() => {
        if (seen()) {
          clearInterval(t);
          resolve();
        } else if (performance.now() > deadline) {
          clearInterval(t);
          reject(
            new Error(`no "${String(m)}" within ${timeoutMs} ms:\n${out.text.slice(from).slice(-2000)}`),
          );
        }
      }, 50);
      void exited.then(() => {
        clearInterval(t);
        if (seen()) resolve();
        else reject(new Error(`vdesk exited before "${String(m)}":\n${out.text.slice(-2000)}\n${out.err}`));
      });
    });
  return { p, out, ready: waitFor(marker), exited, waitFor };
}
