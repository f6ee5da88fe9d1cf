/**
 * Wire formats of the virtio-gpu 2D subset (virtio spec "GPU Device", Linux include/uapi/linux/virtio_gpu.h).
 * Every byte the guest can see or send — config layout, command codes, struct offsets — is defined here
 * and only here, so the device model and the tests cannot drift apart. All fields are little-endian.
 */

export const VIRTIO_ID_GPU = 16;

/** Device feature bits (bit numbers). Only EDID is offered: no virgl, blobs or context init. */
export const GpuFeature = {
  Virgl: 0,
  Edid: 1,
  ResourceUuid: 2,
  ResourceBlob: 3,
  ContextInit: 4,
} as const;

export const QueueIndex = { Control: 0, Cursor: 1 } as const;
export const QUEUE_SIZE = 256;

/** Byte offsets in `struct virtio_gpu_config`. */
export const ConfigOffset = {
  EventsRead: 0,
  EventsClear: 4,
  NumScanouts: 8,
  NumCapsets: 12,
} as const;
export const CONFIG_SIZE = 16;

/** Bits of events_read / events_clear. */
export const GPU_EVENT_DISPLAY = 1;

export const MAX_SCANOUTS = 16;

export const Cmd = {
  GetDisplayInfo: 0x0100,
  ResourceCreate2d: 0x0101,
  ResourceUnref: 0x0102,
  SetScanout: 0x0103,
  ResourceFlush: 0x0104,
  TransferToHost2d: 0x0105,
  ResourceAttachBacking: 0x0106,
  ResourceDetachBacking: 0x0107,
  GetCapsetInfo: 0x0108,
  GetCapset: 0x0109,
  GetEdid: 0x010a,
  UpdateCursor: 0x0300,
  MoveCursor: 0x0301,
} as const;

export const Resp = {
  OkNodata: 0x1100,
  OkDisplayInfo: 0x1101,
  OkCapsetInfo: 0x1102,
  OkCapset: 0x1103,
  OkEdid: 0x1104,
  ErrUnspec: 0x1200,
  ErrOutOfMemory: 0x1201,
  ErrInvalidScanoutId: 0x1202,
  ErrInvalidResourceId: 0x1203,
  ErrInvalidContextId: 0x1204,
  ErrInvalidParameter: 0x1205,
} as const;
export type RespCode = (typeof Resp)[keyof typeof Resp];

/** Header flags. */
export const Flag = { Fence: 1, InfoRingIdx: 2 } as const;

/** `enum virtio_gpu_formats`; names give the byte order in memory. All are 4 bytes per pixel. */
export const PixelFormat = {
  B8G8R8A8: 1,
  B8G8R8X8: 2,
  A8R8G8B8: 3,
  X8R8G8B8: 4,
  R8G8B8A8: 67,
  X8B8G8R8: 68,
  A8B8G8R8: 121,
  R8G8B8X8: 134,
} as const;
export type PixelFormatCode = (typeof PixelFormat)[keyof typeof PixelFormat];

const FORMAT_CODES = new Set<number>(Object.values(PixelFormat));
export function isPixelFormat(n: number): n is PixelFormatCode {
  return FORMAT_CODES.has(n);
}
export const BYTES_PER_PIXEL = 4;

/** `struct virtio_gpu_ctrl_hdr`. */
export const HDR_SIZE = 24;
/** Size of each request struct, header included: a shorter request is malformed. */
export const RequestSize: Readonly<Record<number, number>> = {
  [Cmd.GetDisplayInfo]: 24,
  [Cmd.ResourceCreate2d]: 40,
  [Cmd.ResourceUnref]: 32,
  [Cmd.SetScanout]: 48,
  [Cmd.ResourceFlush]: 48,
  [Cmd.TransferToHost2d]: 56,
  [Cmd.ResourceAttachBacking]: 32,
  [Cmd.ResourceDetachBacking]: 32,
  [Cmd.GetCapsetInfo]: 32,
  [Cmd.GetCapset]: 32,
  [Cmd.GetEdid]: 32,
  [Cmd.UpdateCursor]: 56,
  [Cmd.MoveCursor]: 56,
};
/** The longest fixed request struct: what the device copies out of a chain before parsing. */
export const MAX_REQUEST_SIZE = 56;
/** `struct virtio_gpu_mem_entry`. */
export const MEM_ENTRY_SIZE = 16;
export const DISPLAY_ONE_SIZE = 24;
export const DISPLAY_INFO_SIZE = HDR_SIZE + MAX_SCANOUTS * DISPLAY_ONE_SIZE; // 408
export const EDID_DATA_SIZE = 1024;
export const EDID_RESP_SIZE = HDR_SIZE + 8 + EDID_DATA_SIZE; // 1056

export interface CtrlHdr {
  type: number;
  flags: number;
  /** Kept as a bigint: it is echoed back bit for bit. */
  fenceId: bigint;
  ctxId: number;
  ringIdx: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function readHdr(dv: DataView): CtrlHdr {
  return {
    type: dv.getUint32(0, true),
    flags: dv.getUint32(4, true),
    fenceId: dv.getBigUint64(8, true),
    ctxId: dv.getUint32(16, true),
    ringIdx: dv.getUint8(20),
  };
}

export function writeHdr(dv: DataView, h: CtrlHdr): void {
  dv.setUint32(0, h.type, true);
  dv.setUint32(4, h.flags, true);
  dv.setBigUint64(8, h.fenceId, true);
  dv.setUint32(16, h.ctxId, true);
  dv.setUint8(20, h.ringIdx);
  dv.setUint8(21, 0);
  dv.setUint16(22, 0, true);
}

export function readRect(dv: DataView, off: number): Rect {
  return {
    x: dv.getUint32(off, true),
    y: dv.getUint32(off + 4, true),
    width: dv.getUint32(off + 8, true),
    height: dv.getUint32(off + 12, true),
  };
}

function writeRect(dv: DataView, off: number, r: Rect): void {
  dv.setUint32(off, r.x, true);
  dv.setUint32(off + 4, r.y, true);
  dv.setUint32(off + 8, r.width, true);
  dv.setUint32(off + 12, r.height, true);
}

/** A u64 as a number, or -1 when it exceeds 2^53 (no guest address or offset we accept is that large). */
export function readU64(dv: DataView, off: number): number {
  const lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  return hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + lo;
}

// --- Requests, parsed from a buffer at least RequestSize[type] long. ---

export interface ResourceCreate2d {
  resourceId: number;
  format: number;
  width: number;
  height: number;
}
export function parseResourceCreate2d(dv: DataView): ResourceCreate2d {
  return {
    resourceId: dv.getUint32(24, true),
    format: dv.getUint32(28, true),
    width: dv.getUint32(32, true),
    height: dv.getUint32(36, true),
  };
}

/** RESOURCE_UNREF, RESOURCE_DETACH_BACKING: resource_id then padding. */
export function parseResourceId(dv: DataView): number {
  return dv.getUint32(24, true);
}

export interface SetScanout {
  rect: Rect;
  scanoutId: number;
  resourceId: number;
}
export function parseSetScanout(dv: DataView): SetScanout {
  return { rect: readRect(dv, 24), scanoutId: dv.getUint32(40, true), resourceId: dv.getUint32(44, true) };
}

export interface ResourceFlush {
  rect: Rect;
  resourceId: number;
}
export function parseResourceFlush(dv: DataView): ResourceFlush {
  return { rect: readRect(dv, 24), resourceId: dv.getUint32(40, true) };
}

export interface TransferToHost2d {
  rect: Rect;
  /** Byte offset in the backing store; -1 when above 2^53. */
  offset: number;
  resourceId: number;
}
export function parseTransferToHost2d(dv: DataView): TransferToHost2d {
  return { rect: readRect(dv, 24), offset: readU64(dv, 40), resourceId: dv.getUint32(48, true) };
}

export interface AttachBacking {
  resourceId: number;
  nrEntries: number;
}
export function parseAttachBacking(dv: DataView): AttachBacking {
  return { resourceId: dv.getUint32(24, true), nrEntries: dv.getUint32(28, true) };
}

export interface MemEntry {
  /** Guest-physical address; -1 when above 2^53. */
  addr: number;
  length: number;
}
/** Entry `i` of a packed array of `struct virtio_gpu_mem_entry`. */
export function parseMemEntry(dv: DataView, i: number): MemEntry {
  const off = i * MEM_ENTRY_SIZE;
  return { addr: readU64(dv, off), length: dv.getUint32(off + 8, true) };
}

export function parseGetEdid(dv: DataView): { scanout: number } {
  return { scanout: dv.getUint32(24, true) };
}

export interface UpdateCursor {
  scanoutId: number;
  /** Signed: Linux sends crtc_x/crtc_y, which go negative as the cursor leaves the top-left edge. */
  x: number;
  y: number;
  resourceId: number;
  hotX: number;
  hotY: number;
}
/** UPDATE_CURSOR and MOVE_CURSOR share this struct; MOVE_CURSOR uses only the position. */
export function parseUpdateCursor(dv: DataView): UpdateCursor {
  return {
    scanoutId: dv.getUint32(24, true),
    x: dv.getInt32(28, true),
    y: dv.getInt32(32, true),
    resourceId: dv.getUint32(40, true),
    hotX: dv.getUint32(44, true),
    hotY: dv.getUint32(48, true),
  };
}

// --- Responses. ---

/**
 * The header of a response to `req`: a fenced request gets FENCE and the same fence_id and ctx_id back
 * (and ring_idx with INFO_RING_IDX), which is what lets Linux signal its dma_fence.
 */
export function responseHdr(req: CtrlHdr | null, type: RespCode): CtrlHdr {
  if (!req || !(req.flags & Flag.Fence)) return { type, flags: 0, fenceId: 0n, ctxId: 0, ringIdx: 0 };
  const ringIdx = req.flags & Flag.InfoRingIdx ? req.ringIdx : 0;
  return {
    type,
    flags: req.flags & (Flag.Fence | Flag.InfoRingIdx),
    fenceId: req.fenceId,
    ctxId: req.ctxId,
    ringIdx,
  };
}

export function encodeNodata(hdr: CtrlHdr): Uint8Array {
  const b = new Uint8Array(HDR_SIZE);
  writeHdr(new DataView(b.buffer), hdr);
  return b;
}

export interface DisplayOne {
  rect: Rect;
  enabled: boolean;
  flags: number;
}
export function encodeDisplayInfo(hdr: CtrlHdr, modes: readonly DisplayOne[]): Uint8Array {
  const b = new Uint8Array(DISPLAY_INFO_SIZE);
  const dv = new DataView(b.buffer);
  writeHdr(dv, hdr);
  modes.slice(0, MAX_SCANOUTS).forEach((m, i) => {
    const off = HDR_SIZE + i * DISPLAY_ONE_SIZE;
    writeRect(dv, off, m.rect);
    dv.setUint32(off + 16, m.enabled ? 1 : 0, true);
    dv.setUint32(off + 20, m.flags, true);
  });
  return b;
}
export function decodeDisplayInfo(b: Uint8Array): DisplayOne[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: DisplayOne[] = [];
  for (let i = 0; i < MAX_SCANOUTS; i++) {
    const off = HDR_SIZE + i * DISPLAY_ONE_SIZE;
    out.push({
      rect: readRect(dv, off),
      enabled: dv.getUint32(off + 16, true) !== 0,
      flags: dv.getUint32(off + 20, true),
    });
  }
  return out;
}

/** OK_EDID: `size` bytes of `edid` are valid (0 when the device has no EDID for this mode). */
export function encodeEdidResp(hdr: CtrlHdr, edid: Uint8Array | null): Uint8Array {
  const b = new Uint8Array(EDID_RESP_SIZE);
  const dv = new DataView(b.buffer);
  writeHdr(dv, hdr);
  const n = edid ? Math.min(edid.length, EDID_DATA_SIZE) : 0;
  dv.setUint32(HDR_SIZE, n, true);
  if (edid) b.set(edid.subarray(0, n), HDR_SIZE + 8);
  return b;
}
export function decodeEdidResp(b: Uint8Array): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Math.min(dv.getUint32(HDR_SIZE, true), EDID_DATA_SIZE);
  return b.slice(HDR_SIZE + 8, HDR_SIZE + 8 + n);
}

// --- Request encoders: what a driver sends. The tests use them to speak as Linux does. ---

export interface HdrFields {
  flags?: number;
  fenceId?: bigint;
  ctxId?: number;
  ringIdx?: number;
}

function request(type: number, size: number, h: HdrFields): { b: Uint8Array; dv: DataView } {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  writeHdr(dv, {
    type,
    flags: h.flags ?? 0,
    fenceId: h.fenceId ?? 0n,
    ctxId: h.ctxId ?? 0,
    ringIdx: h.ringIdx ?? 0,
  });
  return { b, dv };
}

export const encode = {
  getDisplayInfo(h: HdrFields = {}): Uint8Array {
    return request(Cmd.GetDisplayInfo, 24, h).b;
  },
  getEdid(scanout: number, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.GetEdid, 32, h);
    dv.setUint32(24, scanout, true);
    return b;
  },
  resourceCreate2d(c: ResourceCreate2d, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.ResourceCreate2d, 40, h);
    dv.setUint32(24, c.resourceId, true);
    dv.setUint32(28, c.format, true);
    dv.setUint32(32, c.width, true);
    dv.setUint32(36, c.height, true);
    return b;
  },
  resourceUnref(resourceId: number, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.ResourceUnref, 32, h);
    dv.setUint32(24, resourceId, true);
    return b;
  },
  setScanout(c: SetScanout, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.SetScanout, 48, h);
    writeRect(dv, 24, c.rect);
    dv.setUint32(40, c.scanoutId, true);
    dv.setUint32(44, c.resourceId, true);
    return b;
  },
  resourceFlush(c: ResourceFlush, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.ResourceFlush, 48, h);
    writeRect(dv, 24, c.rect);
    dv.setUint32(40, c.resourceId, true);
    return b;
  },
  transferToHost2d(
    c: { rect: Rect; offset: bigint | number; resourceId: number },
    h: HdrFields = {},
  ): Uint8Array {
    const { b, dv } = request(Cmd.TransferToHost2d, 56, h);
    writeRect(dv, 24, c.rect);
    dv.setBigUint64(40, BigInt(c.offset), true);
    dv.setUint32(48, c.resourceId, true);
    return b;
  },
  /** The command struct alone; Linux sends the entries in a separate buffer ({@link encode.memEntries}). */
  attachBacking(c: AttachBacking, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.ResourceAttachBacking, 32, h);
    dv.setUint32(24, c.resourceId, true);
    dv.setUint32(28, c.nrEntries, true);
    return b;
  },
  memEntries(entries: readonly { addr: number | bigint; length: number }[]): Uint8Array {
    const b = new Uint8Array(entries.length * MEM_ENTRY_SIZE);
    const dv = new DataView(b.buffer);
    entries.forEach((e, i) => {
      dv.setBigUint64(i * MEM_ENTRY_SIZE, BigInt(e.addr), true);
      dv.setUint32(i * MEM_ENTRY_SIZE + 8, e.length, true);
    });
    return b;
  },
  resourceDetachBacking(resourceId: number, h: HdrFields = {}): Uint8Array {
    const { b, dv } = request(Cmd.ResourceDetachBacking, 32, h);
    dv.setUint32(24, resourceId, true);
    return b;
  },
  updateCursor(c: UpdateCursor, h: HdrFields = {}): Uint8Array {
    return cursor(Cmd.UpdateCursor, c, h);
  },
  moveCursor(c: Pick<UpdateCursor, 'scanoutId' | 'x' | 'y'>, h: HdrFields = {}): Uint8Array {
    return cursor(Cmd.MoveCursor, { ...c, resourceId: 0, hotX: 0, hotY: 0 }, h);
  },
};

function cursor(type: number, c: UpdateCursor, h: HdrFields): Uint8Array {
  const { b, dv } = request(type, 56, h);
  dv.setUint32(24, c.scanoutId, true);
  dv.setInt32(28, c.x, true);
  dv.setInt32(32, c.y, true);
  dv.setUint32(40, c.resourceId, true);
  dv.setUint32(44, c.hotX, true);
  dv.setUint32(48, c.hotY, true);
  return b;
}
