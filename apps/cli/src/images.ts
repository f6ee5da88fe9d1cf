import { execFile } from 'node:child_process';
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

/** The desktop image if it has been built, else null (never builds: that takes minutes and the network). */
export async function desktopImage(): Promise<DesktopImage | null> {
  const root = repoRoot();
  const script = root && path.join(root, 'guest', 'desktop', 'build.sh');
  if (!script || !existsSync(script)) return null;
  const out = await new Promise<string | null>((resolve) => {
    execFile('bash', [script, '--print-paths'], (err, stdout) => resolve(err ? null : stdout));
  });
  const get = (k: string): string | undefined => out?.match(new RegExp(`^${k}=(.*)$`, 'm'))?.[1];
  const image = get('DESKTOP_IMAGE');
  const kernel = get('KERNEL');
  const append = get('APPEND');
  return image && kernel && append ? { image, kernel, append } : null;
}
