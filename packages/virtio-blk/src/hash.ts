/**
 * Content hashes of disk images (Node only), for snapshots that reference a base image instead of
 * carrying it. Hashing a 1 GiB image takes seconds, so the result is cached under
 * $VDESK_CACHE/image-hashes (default ~/.cache/virtio-desktop), keyed by the image's real path, size,
 * mtime, ctime and inode: any write to the image changes mtime/ctime and makes the entry stale.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

const CHUNK = 4 << 20;

function cacheDir(): string {
  return path.join(
    process.env.VDESK_CACHE ?? path.join(homedir(), '.cache', 'virtio-desktop'),
    'image-hashes',
  );
}

/** SHA-256 (hex) of the file open as `fh` at `file`. */
export async function contentHash(fh: FileHandle, file: string): Promise<string> {
  const st = await fh.stat({ bigint: true });
  const key = createHash('sha256')
    .update(JSON.stringify([file, String(st.size), String(st.mtimeNs), String(st.ctimeNs), String(st.ino)]))
    .digest('hex');
  const entry = path.join(cacheDir(), key);
  try {
    const cached = readFileSync(entry, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(cached)) return cached;
  } catch {
    // not cached yet
  }
  const h = createHash('sha256');
  const buf = Buffer.alloc(CHUNK);
  for (let pos = 0; ;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  const hex = h.digest('hex');
  try {
    mkdirSync(cacheDir(), { recursive: true });
    const tmp = `${entry}.${process.pid}.tmp`;
    writeFileSync(tmp, hex + '\n');
    renameSync(tmp, entry);
  } catch {
    // a read-only cache only costs the next hash
  }
  return hex;
}
