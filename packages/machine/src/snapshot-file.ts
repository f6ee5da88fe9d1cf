/**
 * The snapshot file: a small uncompressed header that can be checked before anything else is read, then
 * the compressed state, then a checksum. Browser-safe: compression is a pair of functions the host
 * passes (the Node glue uses zlib on its thread pool; the default is CompressionStream where it exists).
 *
 *   offset 0   8 bytes  magic "VDSNAPSH"
 *          8   u32 LE   format version (SNAPSHOT_FORMAT)
 *         12   u32 LE   header length H
 *         16   H bytes  header, JSON (UTF-8): SnapshotHeader
 *     16 + H   P bytes  payload: header.sections back to back, each compressed on its own as
 *                       header.compression says. Section 0 is the state tree (encodeState) without the
 *                       RAM's pages; sections 1… are the non-zero RAM pages in address order, at most
 *                       RAM_SECTION_BYTES each, so they compress and decompress in parallel.
 *  16 + H + P  u32 LE   CRC-32 of every byte before it
 */
import { SnapshotError, crc32 as jsCrc32 } from '@virtio-desktop/virtio-core';
import type { Manifest } from './manifest.js';

export const SNAPSHOT_MAGIC = 'VDSNAPSH';
/** Version of the file layout and of the state tree's top level; each part versions its own state. */
export const SNAPSHOT_FORMAT = 2;
const HEADER_MAX = 1 << 20;
/** Raw bytes of RAM pages per section (a multiple of the page size). */
export const RAM_SECTION_BYTES = 4 << 20;
/** Largest state tree (section 0) a file may declare: bounds the allocation before it is inflated. */
const STATE_MAX = 1 << 30;

/** One independently compressed part of the payload. */
export interface SnapshotSection {
  /** Bytes before compression (bounds the decompression). */
  raw: number;
  /** Bytes as stored in the payload. */
  stored: number;
}

export interface SnapshotHeader {
  format: number;
  /** ISO time the snapshot was taken (information only). */
  created: string;
  /** SHA-256 (hex) of the manifest (less its name) in canonical JSON: a restore needs the same one. */
  manifestSha256: string;
  /** The machine's manifest, so `vdesk run --restore FILE` needs nothing else. */
  manifest: Manifest;
  /** The directory the manifest's relative paths (disk images) were resolved from, when known. */
  baseDir?: string;
  /** Bytes of guest RAM that are not zero pages (what the snapshot carries), and the RAM size. */
  ramInUse: number;
  ramSize: number;
  compression: 'none' | 'deflate-raw';
  /** Length of the payload before compression (the sections' raw bytes together). */
  rawBytes: number;
  /** Length of the payload as stored. */
  payloadBytes: number;
  /** The payload's sections in order: the state tree, then the RAM pages (see the layout above). */
  sections: SnapshotSection[];
  /** Stored bytes of the RAM's sections: the guest RAM in use, compressed. */
  ramStoredBytes: number;
}

/** Compression the host provides; absent, CompressionStream (deflate-raw) when the runtime has it. */
export interface SnapshotCodec {
  compression: SnapshotHeader['compression'];
  compress(raw: Uint8Array): Promise<Uint8Array>;
  /** Inflate; must refuse (throw) output longer than `maxBytes`. */
  decompress(stored: Uint8Array, maxBytes: number): Promise<Uint8Array>;
  /** A faster CRC-32 (zlib's), same result as the built-in one. */
  crc32?(data: Uint8Array, value?: number): number;
}

async function streamThrough(
  data: Uint8Array,
  t: { writable: WritableStream<BufferSource>; readable: ReadableStream<Uint8Array> },
  max: number,
): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  let n = 0;
  const w = t.writable.getWriter();
  void w
    .write(data as BufferSource)
    .then(() => w.close())
    .catch(() => {});
  const reader = t.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel();
      throw new SnapshotError('decompressed state is larger than its header says');
    }
    out.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const c of out) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/** CompressionStream where the runtime has one (browsers, Node 18+); no compression otherwise. */
export function defaultCodec(): SnapshotCodec {
  const g = globalThis as { CompressionStream?: unknown; DecompressionStream?: unknown };
  if (typeof g.CompressionStream !== 'function' || typeof g.DecompressionStream !== 'function')
    return { compression: 'none', compress: async (b) => b, decompress: async (b) => b };
  return {
    compression: 'deflate-raw',
    compress: (b) => streamThrough(b, new CompressionStream('deflate-raw'), Infinity),
    decompress: (b, max) => streamThrough(b, new DecompressionStream('deflate-raw'), max),
  };
}

/** JSON with object keys sorted at every level, so equal manifests hash equally. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
}

/**
 * The machine's identity for snapshots: the manifest without its `name` (which only names the control
 * socket and the viewer, so a restored copy may run beside the original under another name) and its
 * `threads` (a snapshot of harts on threads restores on one thread, and the other way round).
 */
export async function manifestSha256(m: Manifest): Promise<string> {
  const { name: _name, threads: _threads, ...rest } = m;
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalJson(rest)));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Lay out a snapshot file; `payload` is already compressed as `header.compression` says. */
export function writeSnapshotFile(
  header: SnapshotHeader,
  payload: Uint8Array,
  codec?: SnapshotCodec,
): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(16 + h.length + payload.length + 4);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  dv.setUint32(8, SNAPSHOT_FORMAT, true);
  dv.setUint32(12, h.length, true);
  out.set(h, 16);
  out.set(payload, 16 + h.length);
  const body = out.subarray(0, out.length - 4);
  dv.setUint32(out.length - 4, (codec?.crc32 ?? jsCrc32)(body, 0) >>> 0, true);
  return out;
}

/**
 * Check a snapshot file without touching anything: magic, format version, length (truncation), checksum
 * (corruption), header fields. Each problem is one SnapshotError line.
 */
export function readSnapshotFile(
  file: Uint8Array,
  codec?: SnapshotCodec,
): { header: SnapshotHeader; payload: Uint8Array } {
  const magic = new TextDecoder().decode(file.subarray(0, 8));
  if (magic !== SNAPSHOT_MAGIC) {
    if (file.length < 8 && SNAPSHOT_MAGIC.startsWith(magic) && file.length > 0)
      throw new SnapshotError(`truncated: ${file.length} bytes, not even the header`);
    throw new SnapshotError('not a virtio-desktop snapshot (no VDSNAPSH magic at its start)');
  }
  if (file.length < 20) throw new SnapshotError(`truncated: ${file.length} bytes, not even the header`);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const format = dv.getUint32(8, true);
  if (format !== SNAPSHOT_FORMAT)
    throw new SnapshotError(
      `snapshot format version ${format}; this version of virtio-desktop reads version ${SNAPSHOT_FORMAT}`,
    );
  const hlen = dv.getUint32(12, true);
  if (hlen > HEADER_MAX) throw new SnapshotError(`corrupted: header length ${hlen}`);
  if (16 + hlen + 4 > file.length)
    throw new SnapshotError(`truncated: ${file.length} bytes, shorter than its header`);
  let header: SnapshotHeader;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(16, 16 + hlen)),
    ) as SnapshotHeader;
  } catch {
    throw new SnapshotError('corrupted: the header is not JSON');
  }
  const n = header?.payloadBytes;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new SnapshotError('corrupted: the header has no payload length');
  const want = 16 + hlen + n + 4;
  if (file.length < want) throw new SnapshotError(`truncated: ${file.length} of ${want} bytes`);
  if (file.length > want) throw new SnapshotError(`corrupted: ${file.length - want} bytes after its end`);
  const body = file.subarray(0, want - 4);
  const crc = (codec?.crc32 ?? jsCrc32)(body, 0) >>> 0;
  const stored = dv.getUint32(want - 4, true);
  if (crc !== stored)
    throw new SnapshotError(
      `corrupted: checksum mismatch (crc32 ${crc.toString(16).padStart(8, '0')}, stored ${stored.toString(16).padStart(8, '0')})`,
    );
  if (
    header.format !== SNAPSHOT_FORMAT ||
    typeof header.manifestSha256 !== 'string' ||
    typeof header.manifest !== 'object' ||
    header.manifest === null ||
    (header.compression !== 'none' && header.compression !== 'deflate-raw') ||
    !Number.isSafeInteger(header.rawBytes) ||
    header.rawBytes < 0 ||
    !Number.isSafeInteger(header.ramSize) ||
    !checkSections(header)
  )
    throw new SnapshotError(`corrupted: the header lacks fields of format ${SNAPSHOT_FORMAT}`);
  return { header, payload: file.subarray(16 + hlen, 16 + hlen + n) };
}

/** Sections that add up to the payload, each within its bound (what a decompression may allocate). */
function checkSections(h: SnapshotHeader): boolean {
  const s: unknown = h.sections;
  if (!Array.isArray(s) || s.length < 1 || s.length > 1 + Math.ceil(h.ramSize / RAM_SECTION_BYTES))
    return false;
  let raw = 0;
  let stored = 0;
  let ram = 0;
  for (const [i, x] of (s as unknown[]).entries()) {
    const o = x as Partial<SnapshotSection> | null;
    const ok = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    if (typeof o !== 'object' || o === null || !ok(o.raw) || !ok(o.stored)) return false;
    if (o.raw > (i === 0 ? STATE_MAX : RAM_SECTION_BYTES)) return false;
    raw += o.raw;
    stored += o.stored;
    if (i > 0) ram += o.stored;
  }
  return raw === h.rawBytes && stored === h.payloadBytes && ram === h.ramStoredBytes;
}

/** The payload cut into its sections (stored bytes, views into `payload`). */
export function payloadSections(h: SnapshotHeader, payload: Uint8Array): Uint8Array[] {
  let at = 0;
  return h.sections.map((s) => payload.subarray(at, (at += s.stored)));
}

/**
 * A checked snapshot file whose sections are inflating (on the host's threads with Node's codec): made
 * by {@link openSnapshot} as soon as the file is read, so that inflating overlaps building the machine;
 * RiscvMachine.restore takes it in place of the file's bytes.
 */
export interface OpenedSnapshot {
  readonly header: SnapshotHeader;
  /** Each section inflated, in order (0: the state tree; 1…: RAM pages); rejects with a SnapshotError. */
  readonly sections: readonly Promise<Uint8Array>[];
  /** The most RAM the sections were allowed to inflate to (a machine with less RAM refuses them). */
  readonly maxRamBytes: number;
}

/**
 * Check a snapshot file (as {@link readSnapshotFile}; `checked`: its result, to skip checking twice)
 * and start inflating its sections. `maxRamBytes` bounds what the RAM's sections may inflate to before
 * any of them starts (the RAM of the machine it is for): a file that declares more is refused.
 */
export function openSnapshot(
  file: Uint8Array,
  o: {
    codec?: SnapshotCodec;
    maxRamBytes: number;
    checked?: { header: SnapshotHeader; payload: Uint8Array };
  },
): OpenedSnapshot {
  const codec = o.codec ?? defaultCodec();
  const { header, payload } = o.checked ?? readSnapshotFile(file, codec);
  if (header.compression !== codec.compression && header.compression !== 'none')
    throw new SnapshotError(`compressed as ${header.compression}, which this host cannot read`);
  if (header.sections.slice(1).reduce((n, s) => n + s.raw, 0) > o.maxRamBytes)
    throw new SnapshotError('corrupted: it holds more RAM pages than this machine has');
  const stored = payloadSections(header, payload);
  const inflate = async (i: number): Promise<Uint8Array> => {
    const want = header.sections[i].raw;
    let out: Uint8Array;
    try {
      out = header.compression === 'none' ? stored[i] : await codec.decompress(stored[i], want);
    } catch (e) {
      throw new SnapshotError(
        `corrupted: the state does not decompress (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    if (out.length !== want) throw new SnapshotError('corrupted: the state has the wrong length');
    return out;
  };
  const sections = stored.map((_, i) => inflate(i));
  // Awaited by the restore, unless it stops first (another machine's snapshot, say).
  for (const p of sections) p.catch(() => {});
  return { header, sections, maxRamBytes: o.maxRamBytes };
}
