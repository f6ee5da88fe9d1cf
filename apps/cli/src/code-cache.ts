/**
 * `vdesk run --code-cache` (experimental): the CPU's code profile kept between runs, under $VDESK_CACHE
 * (default ~/.cache/virtio-desktop)/jit: where the guest's hot code was when the last such run of the same
 * kernel and initrd ended, given to the next boot so that its JIT compiles that code on arrival instead
 * of interpreting it 1,024 times first. The file is keyed by a hash of both images' bytes and holds
 * positions only — a hint that the CPU checks against RAM as it compiles — so a stale or damaged file
 * costs compile time, never correctness. Off by default: it pays when the profile comes from runs like
 * the next one (a boot's own profile: boot to init interprets 14 M instructions instead of 29 M, ~15%
 * less CPU) and costs when it does not (a profile saved after long workloads made the next boot slower:
 * their user-space positions hold other code in a new boot, and compiling on arrival costs more than
 * interpreting lukewarm code).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SavedState } from '@virtio-desktop/virtio-core';

const MAGIC = 0x50434456; // "VDCP", little-endian
/** Larger files are not read: a desktop's profile is ~100 KB. */
const MAX_BYTES = 16 << 20;

/** The cache file for a machine booting `kernel` (and `initrd`). */
export function codeCacheFile(kernel: Uint8Array, initrd: Uint8Array | undefined): string {
  const h = createHash('sha256')
    .update(kernel)
    .update(new Uint8Array([initrd ? 1 : 0]));
  if (initrd) h.update(initrd);
  const root = process.env.VDESK_CACHE || path.join(os.homedir(), '.cache', 'virtio-desktop');
  return path.join(root, 'jit', `${h.digest('hex').slice(0, 24)}.prof`);
}

/** The profile saved in `file`, or null when there is none or it is not one. */
export async function loadCodeProfile(file: string): Promise<SavedState | null> {
  let b: Buffer;
  try {
    b = await readFile(file);
  } catch {
    return null;
  }
  if (b.length < 8 || b.length > MAX_BYTES || b.readUInt32LE(0) !== MAGIC) return null;
  return { version: b.readUInt32LE(4), data: new Uint8Array(b.subarray(8)) };
}

/** Save `s` (a CPU part's code profile) to `file`, replacing the last one at once; false on failure. */
export async function saveCodeProfile(file: string, s: SavedState): Promise<boolean> {
  if (!(s.data instanceof Uint8Array) || s.data.length + 8 > MAX_BYTES) return false;
  const head = Buffer.alloc(8);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(s.version >>> 0, 4);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, Buffer.concat([head, s.data]));
    await rename(tmp, file);
    return true;
  } catch {
    return false;
  }
}
