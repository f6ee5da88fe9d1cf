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
  readSnapshotFile as checkSnapshotFile,
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
    decompress: async (stored, maxBytes) =>
      new Uint8Array(await inflateRawAsync(stored, { maxOutputLength: Math.max(1, maxBytes) })),
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

/** Read a snapshot file and check it (magic, version, length, checksum) without restoring anything. */
export async function readSnapshotFile(file: string): Promise<{ bytes: Uint8Array; header: SnapshotHeader }> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new SnapshotError(code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message));
  }
  return { bytes, header: checkSnapshotFile(bytes, nodeSnapshotCodec()).header };
}
