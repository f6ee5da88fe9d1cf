import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.js';

/** The repository checkout this CLI runs from, if any (guest images are built from its guest/ folder). */
export function repoRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'guest', 'build.sh')) && existsSync(path.join(dir, 'pnpm-workspace.yaml')))
      return dir;
    dir = path.dirname(dir);
  }
  return null;
}

/** Paths of the default guest kernel and initramfs, if they have been built (guest/build.sh caches them). */
export async function defaultImages(): Promise<{ kernel: string; initrd: string }> {
  const root = repoRoot();
  if (!root)
    throw new CliError(
      'no kernel given: pass --kernel (and --initrd), or run from a virtio-desktop checkout',
    );
  const out = await new Promise<string | null>((resolve) => {
    execFile('bash', [path.join(root, 'guest', 'build.sh'), '--print-paths'], (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
  const get = (k: string): string | undefined => out?.match(new RegExp(`^${k}=(.*)$`, 'm'))?.[1];
  const kernel = get('KERNEL');
  const initrd = get('INITRD');
  if (!kernel || !initrd)
    throw new CliError(
      'the guest image is not built yet: run `bash guest/build.sh` (or pass --kernel/--initrd)',
    );
  return { kernel, initrd };
}

/** The desktop image (guest/desktop/build.sh): root filesystem, its kernel and command line. */
export interface DesktopImage {
  image: string;
  kernel: string;
  append: string;
}

function parseDesktop(out: string | null): DesktopImage | null {
  const get = (k: string): string | undefined => out?.match(new RegExp(`^${k}=(.*)$`, 'm'))?.[1];
  const image = get('DESKTOP_IMAGE');
  const kernel = get('KERNEL');
  const append = get('APPEND');
  return image && kernel && append ? { image, kernel, append } : null;
}

/**
 * The desktop image from guest/desktop/build.sh: reused from the cache when built, otherwise built now
 * (minutes; Debian's riscv64 packages are downloaded), with the build's progress on stderr.
 */
export async function desktopImage(say: (line: string) => void): Promise<DesktopImage> {
  const root = repoRoot();
  const script = root && path.join(root, 'guest', 'desktop', 'build.sh');
  if (!script || !existsSync(script))
    throw new CliError(
      'the desktop image is built from a virtio-desktop checkout: pass a manifest or --kernel instead',
    );
  const cached = await new Promise<string | null>((resolve) => {
    execFile('bash', [script, '--print-paths'], (err, stdout) => resolve(err ? null : stdout));
  });
  const hit = parseDesktop(cached);
  if (hit) return hit;
  say('vdesk: building the desktop image (guest/desktop/build.sh; cached for the next run)');
  const t0 = performance.now();
  const built = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      if (out.length < 1 << 16) out += d;
    });
    p.on('error', () => resolve({ code: -1, out }));
    p.on('close', (code) => resolve({ code, out }));
  });
  const image = built.code === 0 ? parseDesktop(built.out) : null;
  if (!image)
    throw new CliError(
      `guest/desktop/build.sh failed (exit ${built.code}); see its output above, or boot the test image with vdesk run --shell`,
    );
  say(`vdesk: desktop image built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return image;
}
