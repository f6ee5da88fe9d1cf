/**
 * A live `vdesk run` that needs no guest build: the "kernel" is a 64-byte RISC-V Image header whose
 * first two instructions are `wfi; j 0` (the hart sleeps forever), so the viewer, the control socket and
 * the devices are up within a second. For tests of what clients (not the guest) can do to the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { root, vdeskBin } from './guest.js';

/** A RISC-V Linux Image header (boot.rst) around `wfi; j .-4`. */
export function idleKernel(): Uint8Array {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x10500073, true); // wfi
  dv.setUint32(4, 0xffdff06f, true); // jal x0, -4
  dv.setUint32(8, 0x200000, true); // text_offset
  dv.setUint32(16, 0x10000, true); // image_size
  dv.setUint32(56, 0x05435352, true); // "RSC\x05"
  return b;
}

export interface IdleMachine {
  p: ChildProcess;
  dir: string;
  env: Record<string, string>;
  err: () => string;
  /** The viewer URL printed on stderr (when it has a display). */
  url: string;
  exited: Promise<number | null>;
}

/** A temporary directory with the idle kernel and a runtime dir; `devices` go into the manifest. */
export function idleSetup(
  name: string,
  devices: unknown[],
): { dir: string; manifest: string; kernel: string } {
  const dir = mkdtempSync(path.join(tmpdir(), `vdesk-${name}-`));
  const kernel = path.join(dir, 'Image');
  writeFileSync(kernel, idleKernel());
  const manifest = path.join(dir, `${name}.json`);
  writeFileSync(
    manifest,
    JSON.stringify({ name, memory: '64M', cpus: 1, devices, boot: { kernel: 'Image', cmdline: '' } }),
  );
  return { dir, manifest, kernel };
}

/** Start `vdesk run manifest`; resolves once the control socket (and the viewer, if any) are up. */
export async function startIdle(
  manifest: string,
  env: Record<string, string>,
  extra: string[] = [],
  waitViewer = true,
): Promise<IdleMachine> {
  const p = spawn(process.execPath, [vdeskBin, 'run', manifest, ...extra], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  p.stdout!.on('data', () => {});
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  const t0 = Date.now();
  let url = '';
  for (;;) {
    const m = /viewer at (\S+)/.exec(err);
    if (m) url = m[1];
    if ((url || !waitViewer) && (await statusOk(env))) break;
    if (p.exitCode !== null) throw new Error(`vdesk run exited early:\n${err}`);
    if (Date.now() - t0 > 60_000) throw new Error(`vdesk run did not come up:\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { p, dir: path.dirname(manifest), env, err: () => err, url, exited };
}

/** `vdesk <args>` with the given environment. */
export function cli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [vdeskBin, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

async function statusOk(env: Record<string, string>): Promise<boolean> {
  return (await cli(['status'], env, 10_000)).code === 0;
}

/** Every device of the default desktop machine. */
export const DESKTOP_DEVICES = [
  { package: '@virtio-desktop/virtio-power' },
  { package: '@virtio-desktop/virtio-fb', options: { width: 640, height: 480 } },
  { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
  { package: '@virtio-desktop/virtio-input', device: 'pointer' },
  { package: '@virtio-desktop/virtio-input', device: 'touch' },
];
