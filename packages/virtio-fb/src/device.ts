/**
 * The virtio-gpu 2D device model: resources, one scanout, a cursor, and the EDID/display-info probe that
 * Linux's virtio-gpu DRM driver performs. Front ends (a browser canvas, a VNC server, a screenshot tool)
 * subscribe to its events; it knows none of them.
 */
import { EventEmitter } from 'eventemitter3';
import {
  ConfigSpace,
  DEFAULT_TURN_LIMITS,
  SnapshotError,
  StateReader,
  TurnMeter,
  TurnWorker,
  bit,
  silentLogger,
  type DescriptorChain,
  type Logger,
  type SavedState,
  type StateValue,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import { generateEdid } from './edid.js';
import { toRGBA } from './format.js';
import {
  BYTES_PER_PIXEL,
  CONFIG_SIZE,
  Cmd,
  ConfigOffset,
  GPU_EVENT_DISPLAY,
  GpuFeature,
  HDR_SIZE,
  MAX_REQUEST_SIZE,
  MEM_ENTRY_SIZE,
  QUEUE_SIZE,
  QueueIndex,
  RequestSize,
  Resp,
  VIRTIO_ID_GPU,
  encodeDisplayInfo,
  encodeEdidResp,
  encodeNodata,
  isPixelFormat,
  parseAttachBacking,
  parseGetEdid,
  parseMemEntry,
  parseResourceCreate2d,
  parseResourceFlush,
  parseResourceId,
  parseSetScanout,
  parseTransferToHost2d,
  parseUpdateCursor,
  readHdr,
  responseHdr,
  type CtrlHdr,
  type PixelFormatCode,
  type Rect,
  type RespCode,
} from './protocol.js';
import { Backing, Resource } from './resource.js';

export const MIN_WIDTH = 320;
export const MIN_HEIGHT = 200;
export const MAX_WIDTH = 7680;
export const MAX_HEIGHT = 4320;
export const DEFAULT_WIDTH = 1280;
export const DEFAULT_HEIGHT = 800;
export const DEFAULT_MAX_RESOURCE_MEMORY = 256 * 1024 * 1024;
export const DEFAULT_MAX_RESOURCES = 65536;
export const CURSOR_SIZE = 64;
/** Entries one ATTACH_BACKING may carry at least; a bigger resource may use one per 4 KiB page. */
export const MAX_BACKING_ENTRIES = 16384;
/** A backing store may exceed its resource by this much (Linux rounds objects up to whole pages). */
export const BACKING_SLACK = 1024 * 1024;

export interface GpuDeviceOptions {
  /** Initial display size offered to the guest (GET_DISPLAY_INFO, EDID). */
  width?: number;
  height?: number;
  /** Bytes of pixel storage all resources together may use; also the cap for a single resource. */
  maxResourceMemory?: number;
  /** Number of live resources. */
  maxResources?: number;
  /**
   * Requests and pixel bytes (transfers, flushes) handled per event-loop turn before the device yields
   * (default 256 requests, 16 MiB): a ring of full-screen transfers must not freeze the host.
   */
  turnLimits?: { requests: number; bytes: number };
  log?: Logger;
}

/** The scanout's size changed; 0 x 0 means the guest disabled it (nothing to show). */
export interface ResizeEvent {
  width: number;
  height: number;
}

/**
 * Part of the scanout changed. Coordinates are in the scanout (display) space. `pixels` aliases the
 * resource: `pixels[y * stride + x * 4]` is the first byte of pixel (x, y) of the damaged rect, in
 * `format`. Its content may change after the event (the guest's next transfer): copy or convert it (see
 * {@link toRGBA}) before returning, or, where `pixels.buffer` is a SharedArrayBuffer (resources live in
 * shared memory on hosts that have it), read it later or from another thread, accepting newer pixels
 * (a later transfer there is followed by its own damage event).
 */
export interface DamageEvent {
  x: number;
  y: number;
  width: number;
  height: number;
  stride: number;
  format: PixelFormatCode;
  pixels: Uint8Array;
}

/** A new cursor image: 64 x 64 RGBA (not premultiplied), or null for no cursor. */
export interface CursorEvent {
  image: Uint8Array | null;
  hotX: number;
  hotY: number;
}

/** Where the cursor's top-left corner is, in scanout coordinates (may be negative). */
export interface CursorMoveEvent {
  x: number;
  y: number;
  visible: boolean;
}

/** The host asked for a new display size and the guest has been told. */
export interface DisplayChangeEvent {
  width: number;
  height: number;
}

export interface GpuDeviceEvents {
  resize: (e: ResizeEvent) => void;
  damage: (e: DamageEvent) => void;
  cursor: (e: CursorEvent) => void;
  cursorMove: (e: CursorMoveEvent) => void;
  displayChange: (e: DisplayChangeEvent) => void;
}

export interface ScanoutInfo {
  resourceId: number;
  format: PixelFormatCode;
  /** The part of the resource shown, in resource coordinates. */
  rect: Rect;
}

/** Flushed rectangles one slice keeps apart before merging them into their bounding box. */
const MAX_QUEUED_DAMAGE = 16;
/** Guest errors logged before the device goes quiet, so a hostile guest cannot flood the log. */
const WARN_BUDGET = 64;

export function validDisplaySize(width: number, height: number): boolean {
  return (
    Number.isInteger(width) &&
    Number.isInteger(height) &&
    width >= MIN_WIDTH &&
    width <= MAX_WIDTH &&
    height >= MIN_HEIGHT &&
    height <= MAX_HEIGHT
  );
}

export class VirtioGpuDevice extends EventEmitter<GpuDeviceEvents> implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_GPU;
  readonly features = bit(GpuFeature.Edid);
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly configSize = CONFIG_SIZE;

  readonly maxResourceMemory: number;
  readonly maxResources: number;
  private readonly maxTotalEntries: number;
  private readonly log: Logger;
  private ctx: VirtioDeviceContext | null = null;
  private mode: { width: number; height: number };
  private edid: Uint8Array | null;
  private eventsRead = 0;
  private readonly config = ((c) => (c.set32(ConfigOffset.NumScanouts, 1), c))(new ConfigSpace(CONFIG_SIZE));
  private readonly resources = new Map<number, Resource>();
  private usedBytes = 0;
  private usedEntries = 0;
  private scanout: { res: Resource; rect: Rect } | null = null;
  private cursorPos = { x: 0, y: 0 };
  private cursorImage: Uint8Array | null = null;
  private hot = { x: 0, y: 0 };
  private warnings = 0;
  /** Flushed rectangles (resource coordinates) not yet emitted as damage. */
  private damageQueue: Rect[] = [];
  private readonly meter: TurnMeter;
  private readonly workers: readonly TurnWorker[];

  constructor(opts: GpuDeviceOptions = {}) {
    super();
    const width = opts.width ?? DEFAULT_WIDTH;
    const height = opts.height ?? DEFAULT_HEIGHT;
    if (!validDisplaySize(width, height))
      throw new RangeError(`display size must be ${MIN_WIDTH}x${MIN_HEIGHT} to ${MAX_WIDTH}x${MAX_HEIGHT}`);
    this.mode = { width, height };
    this.edid = generateEdid(width, height);
    this.maxResourceMemory = opts.maxResourceMemory ?? DEFAULT_MAX_RESOURCE_MEMORY;
    this.maxResources = opts.maxResources ?? DEFAULT_MAX_RESOURCES;
    // Room for every byte of the cap in 4 KiB pages, twice over, plus one full attach.
    this.maxTotalEntries = Math.max(1 << 20, Math.ceil(this.maxResourceMemory / 4096) * 2);
    this.log = opts.log ?? silentLogger;
    this.meter = new TurnMeter(opts.turnLimits ?? DEFAULT_TURN_LIMITS);
    this.workers = [QueueIndex.Control, QueueIndex.Cursor].map((i) => new TurnWorker(() => this.slice(i)));
  }

  /** Requests left in the rings for a later turn (VirtioDevice.requestsInFlight). */
  get requestsInFlight(): number {
    return this.workers.filter((w) => w.pending).length;
  }

  // --- Host side ---

  /** The size offered to the guest (the last requestSize, or the initial one). */
  get displaySize(): { width: number; height: number } {
    return { ...this.mode };
  }

  /** What the guest shows now, or null when the scanout is disabled. */
  get scanoutInfo(): ScanoutInfo | null {
    const s = this.scanout;
    return s ? { resourceId: s.res.id, format: s.res.format, rect: { ...s.rect } } : null;
  }

  /** Bytes of pixel storage the guest's resources hold now. */
  get resourceMemory(): number {
    return this.usedBytes;
  }

  get resourceCount(): number {
    return this.resources.size;
  }

  /**
   * Ask the guest to use a new display size: scanout 0 reports it (enabled) in GET_DISPLAY_INFO and the
   * EDID, and a config-change interrupt with EVENT_DISPLAY makes the driver re-probe. Userspace then
   * decides whether to switch; `resize` fires when it does. False (nothing done) for a size outside
   * MIN..MAX. Each call notifies the guest: debounce window resizes before calling.
   */
  requestSize(width: number, height: number): boolean {
    if (!validDisplaySize(width, height)) {
      this.log.warn(
        `virtio-fb: requested size ${width}x${height} outside ${MIN_WIDTH}x${MIN_HEIGHT}..${MAX_WIDTH}x${MAX_HEIGHT}`,
      );
      return false;
    }
    this.mode = { width, height };
    this.edid = generateEdid(width, height);
    this.eventsRead |= GPU_EVENT_DISPLAY;
    this.ctx?.configChanged();
    this.emitSafe('displayChange', { width, height });
    return true;
  }

  /** The EDID the guest gets for the current size (null when the size exceeds what a DTD can hold). */
  currentEdid(): Uint8Array | null {
    return this.edid ? this.edid.slice() : null;
  }

  /** The scanout now, in RGBA and opaque; 0 x 0 when the scanout is disabled. */
  snapshot(): { width: number; height: number; rgba: Uint8Array } {
    const s = this.scanout;
    if (!s) return { width: 0, height: 0, rgba: new Uint8Array(0) };
    const { res, rect } = s;
    const start = rect.y * res.stride + rect.x * BYTES_PER_PIXEL;
    const rgba = toRGBA(res.format, res.data.subarray(start), res.stride, rect.width, rect.height, {
      opaque: true,
    });
    return { width: rect.width, height: rect.height, rgba };
  }

  /** The current cursor: image (64 x 64 RGBA) or null, hot spot and position. */
  get cursor(): CursorEvent & CursorMoveEvent {
    return {
      image: this.cursorImage,
      hotX: this.hot.x,
      hotY: this.hot.y,
      ...this.cursorPos,
      visible: !!this.cursorImage,
    };
  }

  // --- VirtioDevice ---

  readConfig(offset: number, width: 1 | 2 | 4): number {
    this.config.set32(ConfigOffset.EventsRead, this.eventsRead);
    return this.config.read(offset, width);
  }

  writeConfig(offset: number, width: 1 | 2 | 4, value: number): void {
    // Only events_clear is writable: each byte written there clears the matching bits of events_read.
    ConfigSpace.splitWrite(offset, width, value, (off, byte) => {
      const at = off - ConfigOffset.EventsClear;
      if (at < 0 || at > 3) return;
      this.eventsRead = (this.eventsRead & ~(byte << (8 * at))) >>> 0;
    });
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = null;
    for (const w of this.workers) w.cancel();
    this.eventsRead = 0;
    this.resources.clear();
    this.usedBytes = 0;
    this.usedEntries = 0;
    this.warnings = 0;
    this.disableScanout();
    if (this.cursorImage) {
      this.cursorImage = null;
      this.hot = { x: 0, y: 0 };
      this.emitSafe('cursor', { image: null, hotX: 0, hotY: 0 });
      this.emitSafe('cursorMove', { ...this.cursorPos, visible: false });
    }
  }

  queueNotify(index: number): void {
    this.workers[index]?.kick();
  }

  /** Snapshot, step 1: let requests left for later turns run, so none is in flight. */
  async prepareSnapshot(): Promise<void> {
    for (let i = 0; this.requestsInFlight > 0; i++) {
      if (i > 1000) throw new SnapshotError('virtio-fb: the control queue did not drain');
      await new Promise<void>((r) => setTimeout(r, 1));
    }
  }

  /**
   * The offered mode, events_read, every resource with its pixels and backing ranges (guest addresses;
   * the backing itself is guest RAM), the scanout and the cursor.
   */
  saveState(): SavedState {
    const resources: StateValue[] = [...this.resources.values()].map((r) => ({
      id: r.id,
      format: r.format,
      width: r.width,
      height: r.height,
      data: r.data.slice(),
      backing: r.backing ? r.backing.save() : null,
    }));
    const s = this.scanout;
    return {
      version: 1,
      data: {
        mode: { ...this.mode },
        eventsRead: this.eventsRead,
        resources,
        scanout: s ? { resourceId: s.res.id, ...s.rect } : null,
        cursorPos: { ...this.cursorPos },
        cursorImage: this.cursorImage ? this.cursorImage.slice() : null,
        hot: { ...this.hot },
      },
    };
  }

  /**
   * Put a saved state back, then tell listeners (the viewer) what the screen shows: a resize, the whole
   * scanout as damage and the cursor, so a restored machine's screen appears at once.
   */
  restoreState(st: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(st, 'virtio-fb', [1]);
    const mode = r.sub('mode');
    const width = mode.int('width');
    const height = mode.int('height');
    if (!validDisplaySize(width, height)) throw r.fail('mode', `is ${width}x${height}`);
    const resources = new Map<number, Resource>();
    let bytes = 0;
    let entries = 0;
    for (const [i, v] of r.arr('resources', this.maxResources).entries()) {
      const rr = new StateReader(v, `virtio-fb.resources[${i}]`);
      const id = rr.int('id', 1, 0xffffffff);
      const format = rr.int('format', 0, 0xffffffff);
      if (!isPixelFormat(format)) throw rr.fail('format', `is ${format}`);
      const w = rr.int('width', 1, 0xffffffff);
      const h = rr.int('height', 1, 0xffffffff);
      const data = rr.bytes('data');
      if (data.length !== w * h * BYTES_PER_PIXEL) throw rr.fail('data', 'does not match the size');
      bytes += data.length;
      if (bytes > this.maxResourceMemory || resources.has(id))
        throw rr.fail('id', 'is repeated or over the limit');
      const store = pixelStore(data.length);
      store.set(data);
      const res = new Resource(id, format, w, h, store);
      if (rr.raw('backing') !== null) {
        const b = rr.sub('backing');
        const backing = Backing.load(b.bytes('addrs'), b.bytes('lens'));
        if (!backing) throw rr.fail('backing', 'has mismatched lists');
        res.backing = backing;
        entries += backing.entries;
      }
      resources.set(id, res);
    }
    let scanout: { res: Resource; rect: Rect } | null = null;
    if (r.raw('scanout') !== null) {
      const so = r.sub('scanout');
      const res = resources.get(so.int('resourceId'));
      const rect = {
        x: so.int('x', 0),
        y: so.int('y', 0),
        width: so.int('width', 1),
        height: so.int('height', 1),
      };
      if (!res || !res.contains(rect))
        throw so.fail('resourceId', 'or its rectangle is not a resource of the state');
      scanout = { res, rect };
    }
    const pos = r.sub('cursorPos');
    const hot = r.sub('hot');
    const cursorImage = r.raw('cursorImage') === null ? null : r.bytes('cursorImage').slice();
    this.mode = { width, height };
    this.edid = generateEdid(width, height);
    this.eventsRead = r.int('eventsRead', 0, 0xffffffff);
    this.resources.clear();
    for (const [id, res] of resources) this.resources.set(id, res);
    this.usedBytes = bytes;
    this.usedEntries = entries;
    this.scanout = scanout;
    this.cursorPos = { x: pos.int('x', -(2 ** 31), 2 ** 32), y: pos.int('y', -(2 ** 31), 2 ** 32) };
    this.hot = { x: hot.int('x', 0, 0xffffffff), y: hot.int('y', 0, 0xffffffff) };
    this.cursorImage = cursorImage;
    this.ctx = ctx;
    if (scanout) {
      this.emitSafe('resize', { width: scanout.rect.width, height: scanout.rect.height });
      this.emitDamage(scanout.rect);
    }
    this.emitSafe('cursor', { image: cursorImage, hotX: this.hot.x, hotY: this.hot.y });
    this.emitSafe('cursorMove', { ...this.cursorPos, visible: !!cursorImage });
  }

  /** Handle requests until the ring is empty or this turn's slice is used; true when some are left. */
  private slice(index: number): boolean {
    const q = this.ctx?.queues[index];
    if (!q) return false;
    while (!this.meter.exhausted) {
      const c = q.pop();
      if (!c) break;
      this.meter.spend(0);
      let written = 0;
      try {
        written = this.handle(c, index === QueueIndex.Cursor);
      } catch (e) {
        // Only a bug gets here; answer rather than leave the driver waiting on this buffer forever.
        this.log.error(`virtio-fb: internal error on queue ${index}: ${String(e)}`);
        written = this.respond(c, encodeNodata(responseHdr(null, Resp.ErrUnspec)));
      }
      q.push(c.head, written);
    }
    q.signal();
    // The guest has its answers (and, on a threaded machine, runs on) before front ends convert pixels.
    this.emitQueuedDamage();
    return q.pending() > 0;
  }

  // --- Requests ---

  private handle(c: DescriptorChain, cursorq: boolean): number {
    if (c.readableLength < HDR_SIZE) {
      this.guestError(`request of ${c.readableLength} bytes is shorter than a header`);
      return this.respond(c, encodeNodata(responseHdr(null, Resp.ErrUnspec)));
    }
    const raw = c.readBytes(0, Math.min(c.readableLength, MAX_REQUEST_SIZE));
    if (!raw) return 0;
    const dv = new DataView(raw.buffer);
    const hdr = readHdr(dv);
    const need = RequestSize[hdr.type];
    const allowed = cursorq
      ? hdr.type === Cmd.UpdateCursor || hdr.type === Cmd.MoveCursor
      : need !== undefined && hdr.type !== Cmd.UpdateCursor && hdr.type !== Cmd.MoveCursor;
    if (!allowed || need === undefined) {
      this.guestError(
        `unknown command 0x${hdr.type.toString(16)} on the ${cursorq ? 'cursor' : 'control'} queue`,
      );
      return this.respond(c, encodeNodata(responseHdr(hdr, Resp.ErrUnspec)));
    }
    if (raw.length < need) {
      this.guestError(`command 0x${hdr.type.toString(16)} is ${raw.length} bytes, needs ${need}`);
      return this.respond(c, encodeNodata(responseHdr(hdr, Resp.ErrUnspec)));
    }
    const out = this.dispatch(c, hdr, dv);
    return this.respond(c, out instanceof Uint8Array ? out : encodeNodata(responseHdr(hdr, out)));
  }

  /** Returns a full response, or just the code for a header-only one. */
  private dispatch(c: DescriptorChain, hdr: CtrlHdr, dv: DataView): Uint8Array | RespCode {
    switch (hdr.type) {
      case Cmd.GetDisplayInfo:
        return encodeDisplayInfo(responseHdr(hdr, Resp.OkDisplayInfo), [
          { rect: { x: 0, y: 0, ...this.mode }, enabled: true, flags: 0 },
        ]);
      case Cmd.GetEdid: {
        const { scanout } = parseGetEdid(dv);
        if (scanout !== 0) return this.fail(Resp.ErrInvalidParameter, `GET_EDID for scanout ${scanout}`);
        return encodeEdidResp(responseHdr(hdr, Resp.OkEdid), this.edid);
      }
      case Cmd.GetCapsetInfo:
      case Cmd.GetCapset:
        return this.fail(Resp.ErrInvalidParameter, 'capset query, but num_capsets is 0');
      case Cmd.ResourceCreate2d:
        return this.create2d(dv);
      case Cmd.ResourceUnref:
        return this.unref(parseResourceId(dv));
      case Cmd.SetScanout:
        return this.setScanout(dv);
      case Cmd.ResourceFlush:
        return this.flush(dv);
      case Cmd.TransferToHost2d:
        return this.transfer(dv);
      case Cmd.ResourceAttachBacking:
        return this.attachBacking(c, dv);
      case Cmd.ResourceDetachBacking: {
        const res = this.resources.get(parseResourceId(dv));
        if (!res) return this.fail(Resp.ErrInvalidResourceId, 'DETACH_BACKING of an unknown resource');
        if (!res.backing)
          return this.fail(Resp.ErrUnspec, `DETACH_BACKING of resource ${res.id} without backing`);
        this.dropBacking(res);
        return Resp.OkNodata;
      }
      case Cmd.UpdateCursor:
      case Cmd.MoveCursor:
        return this.cursorCommand(hdr.type, dv);
      default:
        return this.fail(Resp.ErrUnspec, `unhandled command 0x${hdr.type.toString(16)}`);
    }
  }

  private create2d(dv: DataView): RespCode {
    const c = parseResourceCreate2d(dv);
    if (c.resourceId === 0 || this.resources.has(c.resourceId))
      return this.fail(
        Resp.ErrInvalidResourceId,
        `CREATE_2D with ${c.resourceId ? 'duplicate' : 'zero'} id ${c.resourceId}`,
      );
    if (!isPixelFormat(c.format))
      return this.fail(Resp.ErrInvalidParameter, `CREATE_2D with format ${c.format}`);
    if (c.width === 0 || c.height === 0)
      return this.fail(Resp.ErrInvalidParameter, `CREATE_2D of ${c.width}x${c.height}`);
    // Both factors are below 2^32, so the product is exact up to 2^53 and above the cap beyond it.
    const bytes = c.width * c.height * BYTES_PER_PIXEL;
    if (bytes > this.maxResourceMemory || this.usedBytes + bytes > this.maxResourceMemory)
      return this.fail(
        Resp.ErrOutOfMemory,
        `CREATE_2D of ${c.width}x${c.height}: ${bytes} bytes, ${this.usedBytes} in use`,
      );
    if (this.resources.size >= this.maxResources)
      return this.fail(Resp.ErrOutOfMemory, `CREATE_2D beyond ${this.maxResources} resources`);
    let data: Uint8Array;
    try {
      data = pixelStore(bytes);
    } catch {
      return this.fail(Resp.ErrOutOfMemory, `host could not allocate ${bytes} bytes`);
    }
    this.resources.set(c.resourceId, new Resource(c.resourceId, c.format, c.width, c.height, data));
    this.usedBytes += bytes;
    return Resp.OkNodata;
  }

  private unref(id: number): RespCode {
    const res = this.resources.get(id);
    if (!res) return this.fail(Resp.ErrInvalidResourceId, `UNREF of unknown resource ${id}`);
    // Linux stopped sending DETACH_BACKING before UNREF: the backing goes with the resource.
    if (this.scanout?.res === res) this.disableScanout();
    this.dropBacking(res);
    this.resources.delete(id);
    this.usedBytes -= res.bytes;
    return Resp.OkNodata;
  }

  private setScanout(dv: DataView): RespCode {
    const s = parseSetScanout(dv);
    if (s.scanoutId !== 0)
      return this.fail(Resp.ErrInvalidScanoutId, `SET_SCANOUT on scanout ${s.scanoutId}`);
    if (s.resourceId === 0) {
      this.disableScanout();
      return Resp.OkNodata;
    }
    const res = this.resources.get(s.resourceId);
    if (!res) return this.fail(Resp.ErrInvalidResourceId, `SET_SCANOUT of unknown resource ${s.resourceId}`);
    const r = s.rect;
    if (r.width === 0 || r.height === 0 || !res.contains(r))
      return this.fail(
        Resp.ErrInvalidParameter,
        `SET_SCANOUT rect ${r.width}x${r.height}+${r.x}+${r.y} outside resource ${res.width}x${res.height}`,
      );
    const old = this.scanout;
    this.emitQueuedDamage();
    this.scanout = { res, rect: { ...r } };
    if (!old || old.rect.width !== r.width || old.rect.height !== r.height) {
      this.emitSafe('resize', { width: r.width, height: r.height });
      // After a mode change the front end has nothing to keep: give it the whole picture once.
      this.emitDamage({ x: r.x, y: r.y, width: r.width, height: r.height });
    }
    return Resp.OkNodata;
  }

  private flush(dv: DataView): RespCode {
    const f = parseResourceFlush(dv);
    const res = this.resources.get(f.resourceId);
    if (!res) return this.fail(Resp.ErrInvalidResourceId, `FLUSH of unknown resource ${f.resourceId}`);
    if (!res.contains(f.rect)) return this.fail(Resp.ErrInvalidParameter, 'FLUSH rect outside the resource');
    if (this.scanout?.res === res) {
      // Front ends convert the damaged pixels: a flood of full-screen flushes costs them as much.
      this.meter.spend(f.rect.width * f.rect.height * BYTES_PER_PIXEL, 0);
      this.queueDamage(f.rect);
    }
    return Resp.OkNodata;
  }

  private transfer(dv: DataView): RespCode {
    const t = parseTransferToHost2d(dv);
    const res = this.resources.get(t.resourceId);
    if (!res) return this.fail(Resp.ErrInvalidResourceId, `TRANSFER of unknown resource ${t.resourceId}`);
    if (!res.backing) return this.fail(Resp.ErrUnspec, `TRANSFER to resource ${res.id} without backing`);
    const r = t.rect;
    if (!res.contains(r)) return this.fail(Resp.ErrInvalidParameter, 'TRANSFER rect outside the resource');
    if (r.width === 0 || r.height === 0) return Resp.OkNodata;
    if (t.offset < 0 || res.transferEnd(r, t.offset) > res.backing.total)
      return this.fail(
        Resp.ErrInvalidParameter,
        `TRANSFER at offset ${t.offset} runs past the backing store`,
      );
    // One transfer copies up to a whole resource: the turn's byte budget bounds how many run per turn.
    this.meter.spend(r.width * r.height * BYTES_PER_PIXEL, 0);
    if (!this.ctx || !res.transfer(this.ctx.memory, r, t.offset))
      return this.fail(Resp.ErrUnspec, 'TRANSFER could not read the backing store');
    return Resp.OkNodata;
  }

  private attachBacking(c: DescriptorChain, dv: DataView): RespCode {
    const a = parseAttachBacking(dv);
    const res = this.resources.get(a.resourceId);
    if (!res)
      return this.fail(Resp.ErrInvalidResourceId, `ATTACH_BACKING to unknown resource ${a.resourceId}`);
    if (res.backing) return this.fail(Resp.ErrUnspec, `ATTACH_BACKING to resource ${res.id} that has one`);
    const maxEntries = Math.max(MAX_BACKING_ENTRIES, Math.ceil(res.bytes / 4096) + 16);
    if (a.nrEntries === 0 || a.nrEntries > maxEntries)
      return this.fail(
        Resp.ErrInvalidParameter,
        `ATTACH_BACKING with ${a.nrEntries} entries (limit ${maxEntries})`,
      );
    if (this.usedEntries + a.nrEntries > this.maxTotalEntries)
      return this.fail(Resp.ErrOutOfMemory, `ATTACH_BACKING beyond ${this.maxTotalEntries} entries in all`);
    // The entries follow the command, in the same or (as Linux sends them) later readable buffers.
    const start = RequestSize[Cmd.ResourceAttachBacking];
    const bytes = c.readBytes(start, a.nrEntries * MEM_ENTRY_SIZE);
    if (!bytes) return this.fail(Resp.ErrUnspec, `ATTACH_BACKING shorter than its ${a.nrEntries} entries`);
    const ev = new DataView(bytes.buffer);
    const memory = this.ctx?.memory;
    if (!memory) return Resp.ErrUnspec;
    const addrs = new Float64Array(a.nrEntries);
    const lens = new Uint32Array(a.nrEntries);
    let total = 0;
    for (let i = 0; i < a.nrEntries; i++) {
      const e = parseMemEntry(ev, i);
      if (e.addr < 0 || !memory.contains(e.addr, e.length))
        return this.fail(
          Resp.ErrInvalidParameter,
          `ATTACH_BACKING entry ${i} (${e.addr}+${e.length}) outside guest RAM`,
        );
      addrs[i] = e.addr;
      lens[i] = e.length;
      total += e.length;
    }
    if (total > res.bytes + BACKING_SLACK)
      return this.fail(
        Resp.ErrInvalidParameter,
        `ATTACH_BACKING of ${total} bytes for a ${res.bytes}-byte resource`,
      );
    res.backing = new Backing(addrs, lens);
    this.usedEntries += a.nrEntries;
    return Resp.OkNodata;
  }

  private cursorCommand(type: number, dv: DataView): RespCode {
    const u = parseUpdateCursor(dv);
    if (u.scanoutId !== 0) return this.fail(Resp.ErrInvalidScanoutId, `cursor on scanout ${u.scanoutId}`);
    if (type === Cmd.UpdateCursor) {
      let image: Uint8Array | null = null;
      if (u.resourceId !== 0) {
        const res = this.resources.get(u.resourceId);
        if (!res)
          return this.fail(Resp.ErrInvalidResourceId, `UPDATE_CURSOR with unknown resource ${u.resourceId}`);
        image = new Uint8Array(CURSOR_SIZE * CURSOR_SIZE * 4);
        const w = Math.min(res.width, CURSOR_SIZE);
        const h = Math.min(res.height, CURSOR_SIZE);
        toRGBA(res.format, res.data, res.stride, w, h, { dst: image, dstStride: CURSOR_SIZE * 4 });
      }
      this.cursorImage = image;
      this.hot = image
        ? { x: Math.min(u.hotX, CURSOR_SIZE - 1), y: Math.min(u.hotY, CURSOR_SIZE - 1) }
        : { x: 0, y: 0 };
      this.emitSafe('cursor', { image, hotX: this.hot.x, hotY: this.hot.y });
    }
    this.cursorPos = { x: u.x, y: u.y };
    this.emitSafe('cursorMove', { x: u.x, y: u.y, visible: this.cursorImage !== null });
    return Resp.OkNodata;
  }

  // --- Helpers ---

  private dropBacking(res: Resource): void {
    if (!res.backing) return;
    this.usedEntries -= res.backing.entries;
    res.backing = null;
  }

  private disableScanout(): void {
    this.damageQueue = [];
    if (!this.scanout) return;
    this.scanout = null;
    this.emitSafe('resize', { width: 0, height: 0 });
  }

  /**
   * Damage of the flushes in one slice, emitted after the slice's responses: a rectangle inside one
   * already queued adds nothing, and past {@link MAX_QUEUED_DAMAGE} they merge into their bounds.
   */
  private queueDamage(r: Rect): void {
    const inside = (a: Rect, b: Rect): boolean =>
      a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;
    const q = this.damageQueue;
    if (q.some((d) => inside(r, d))) return;
    const kept = q.filter((d) => !inside(d, r));
    kept.push({ ...r });
    if (kept.length > MAX_QUEUED_DAMAGE) {
      const x0 = Math.min(...kept.map((d) => d.x));
      const y0 = Math.min(...kept.map((d) => d.y));
      const x1 = Math.max(...kept.map((d) => d.x + d.width));
      const y1 = Math.max(...kept.map((d) => d.y + d.height));
      this.damageQueue = [{ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }];
    } else this.damageQueue = kept;
  }

  private emitQueuedDamage(): void {
    const q = this.damageQueue;
    if (q.length === 0) return;
    this.damageQueue = [];
    for (const r of q) this.emitDamage(r);
  }

  /** Emit damage for `r` (resource coordinates) clipped to the scanout, in scanout coordinates. */
  private emitDamage(r: Rect): void {
    const s = this.scanout;
    if (!s) return;
    const x0 = Math.max(r.x, s.rect.x);
    const y0 = Math.max(r.y, s.rect.y);
    const x1 = Math.min(r.x + r.width, s.rect.x + s.rect.width);
    const y1 = Math.min(r.y + r.height, s.rect.y + s.rect.height);
    if (x1 <= x0 || y1 <= y0) return;
    const { res } = s;
    const start = y0 * res.stride + x0 * BYTES_PER_PIXEL;
    const end = (y1 - 1) * res.stride + x1 * BYTES_PER_PIXEL;
    this.emitSafe('damage', {
      x: x0 - s.rect.x,
      y: y0 - s.rect.y,
      width: x1 - x0,
      height: y1 - y0,
      stride: res.stride,
      format: res.format,
      pixels: res.data.subarray(start, end),
    });
  }

  /** A listener's exception is the host's bug: log it, and keep serving the guest. */
  private emitSafe<K extends keyof GpuDeviceEvents>(
    event: K,
    payload: Parameters<GpuDeviceEvents[K]>[0],
  ): void {
    try {
      (this.emit as (e: K, p: Parameters<GpuDeviceEvents[K]>[0]) => boolean)(event, payload);
    } catch (e) {
      this.log.error(`virtio-fb: a '${event}' listener threw: ${String(e)}`);
    }
  }

  private fail(code: RespCode, msg: string): RespCode {
    this.guestError(msg);
    return code;
  }

  private guestError(msg: string): void {
    this.warnings++;
    if (this.warnings <= WARN_BUDGET) this.log.warn(`virtio-fb: ${msg}`);
    if (this.warnings === WARN_BUDGET)
      this.log.warn('virtio-fb: further guest errors are not logged until reset');
  }

  /** Write a response into the writable part; returns the used length. */
  private respond(c: DescriptorChain, resp: Uint8Array): number {
    const room = c.writableLength;
    if (room >= resp.length) return c.writeBytes(0, resp);
    if (room === 0) return 0; // Linux's cursor queue takes no response.
    if (room >= HDR_SIZE && resp.length > HDR_SIZE) {
      this.guestError(`response of ${resp.length} bytes does not fit ${room}`);
      const hdr = readHdr(new DataView(resp.buffer, resp.byteOffset, HDR_SIZE));
      return c.writeBytes(0, encodeNodata({ ...hdr, type: Resp.ErrUnspec }));
    }
    this.guestError(`no room for a response (${room} bytes)`);
    return 0;
  }
}

/**
 * A resource's pixels: in shared memory where the host has it, so that a front end's worker (the viewer's
 * encoder) reads and converts the scanout itself instead of the device's thread copying each frame.
 */
function pixelStore(bytes: number): Uint8Array {
  return new Uint8Array(
    typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
  );
}
