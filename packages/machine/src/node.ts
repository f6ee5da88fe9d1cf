/**
 * Node-only helpers of the machine package: module resolution for manifests and reading manifests from
 * disk. Kept out of the main entry so the assembler itself runs in browsers.
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import type { RiscvMachine } from './riscv/machine.js';
import {
  openSnapshot,
  readSnapshotFile as checkSnapshotFile,
  type OpenedSnapshot,
  type SnapshotCodec,
  type SnapshotHeader,
} from './snapshot-file.js';
import type { ModuleLoader } from './plugins.js';
import { ManifestError, parseManifestText, type Manifest } from './manifest.js';

/**
 * A loader that resolves package names from each of `searchDirs` in turn (the manifest's directory, the
 * current directory, the CLI's own install), and paths relative to `baseDir`. A third-party package
 * installed next to a manifest resolves exactly like ours.
 */
export function nodeModuleLoader(baseDir: string, searchDirs: readonly string[]): ModuleLoader {
  return async (spec) => {
    if (spec.startsWith('./') || spec.startsWith('../') || path.isAbsolute(spec)) {
      return import(pathToFileURL(path.resolve(baseDir, spec)).href);
    }
    let lastErr: unknown = null;
    for (const dir of [baseDir, ...searchDirs]) {
      try {
        const resolved = createRequire(path.join(dir, 'noop.js')).resolve(spec);
        return await import(pathToFileURL(resolved).href);
      } catch (e) {
        lastErr = e;
        if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
      }
    }
    throw lastErr instanceof Error && (lastErr as { code?: string }).code === 'MODULE_NOT_FOUND'
      ? new Error('not installed (npm install it next to the manifest)')
      : lastErr;
  };
}

/** Read and validate a manifest file; every problem becomes a one-line {@link ManifestError}. */
export async function loadManifestFile(file: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ManifestError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`,
    );
  }
  return parseManifestText(text, file);
}

const deflateRawAsync = promisify(zlib.deflateRaw);
/** A Uint8Array over a Buffer's bytes: code that reads the state copies parts with slice(), which a Buffer does not. */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const inflateRawAsync = promisify(zlib.inflateRaw);

/**
 * Snapshot compression in Node: zlib deflate-raw on the thread pool (the payload's sections compress and
 * inflate in parallel there), and zlib's CRC-32. Level 6 by default: inflating is as fast as from level
 * 1 (restores are what must be quick), the file ~6% smaller, and only `vdesk snapshot` takes longer
 * (after the guest has resumed).
 */
export function nodeSnapshotCodec(level = 6): SnapshotCodec {
  return {
    compression: 'deflate-raw',
    compress: async (raw) => new Uint8Array(await deflateRawAsync(raw, { level })),
    // One output chunk of the section's size (16 MiB at most, whatever a hostile header declares): the
    // default 16 KiB chunks cost a main-thread callback and a copy each (4,500 for the desktop's 70 MiB),
    // which delayed the first section by ~0.3 s.
    // A plain view of the Buffer, not a copy of the 70 MiB (nor a Buffer: its slice() does not copy).
    decompress: async (stored, maxBytes) =>
      plain(
        await inflateRawAsync(stored, {
          maxOutputLength: Math.max(1, maxBytes),
          chunkSize: Math.min(Math.max(64, maxBytes), 16 << 20),
        }),
      ),
    crc32: (data, value) => zlib.crc32(data, value ?? 0),
  };
}

/**
 * Write a snapshot of `machine` to `file` atomically: into a temporary file beside it, then renamed, so a
 * failed snapshot leaves an existing file as it was. Returns the header (sizes).
 */
export async function saveSnapshotFile(
  machine: RiscvMachine,
  file: string,
  onPaused?: (ms: number) => void,
): Promise<SnapshotHeader & { fileBytes: number }> {
  let header: SnapshotHeader | undefined;
  const bytes = await machine.snapshot({
    codec: nodeSnapshotCodec(),
    onHeader: (h) => (header = h),
    ...(onPaused ? { onPaused } : {}),
  });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  return { ...header!, fileBytes: bytes.length };
}

/**
 * Read a snapshot file and check it (magic, version, length, checksum) without restoring anything;
 * `open(maxRamBytes)` then starts inflating it for RiscvMachine.restore (see openSnapshot) without
 * checking it again.
 */
export async function readSnapshotFile(
  file: string,
): Promise<{ bytes: Uint8Array; header: SnapshotHeader; open(maxRamBytes: number): OpenedSnapshot }> {
  let bytes: Uint8Array;
  try {
    bytes = plain(await readFile(file));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new SnapshotError(code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message));
  }
  const codec = nodeSnapshotCodec();
  const checked = checkSnapshotFile(bytes, codec);
  return {
    bytes,
    header: checked.header,
    open: (maxRamBytes) => openSnapshot(bytes, { codec, maxRamBytes, checked }),
  };
}
