/**
 * Wire formats of virtio-power (spec/virtio-power.md). Everything a guest can see — config layout,
 * request/response/event structures, the inventory blob — is defined here and only here, so the device
 * model and the tests cannot drift apart. All multi-byte fields are little-endian.
 */

/**
 * Provisional: not allocated by OASIS. 63-60 are taken in practice (crosvm counts its nonstandard IDs down
 * from 63, Gunyah uses 60), 50 and 51 are balloted, 56 is a vendor's; spec/virtio-power.md §1 has the
 * search and docs/virtio-power-id-request.md the reservation request. Keep every use on this constant.
 */
export const VIRTIO_ID_POWER = 58;

/** Device feature bits (bit numbers). Bit 3 is reserved for a future SUSPEND feature. */
export const PowerFeature = {
  Inventory: 0,
  HostRequests: 1,
  Hotplug: 2,
} as const;

export const QueueIndex = { Request: 0, Event: 1 } as const;

/** Byte offsets in the device configuration space. */
export const ConfigOffset = {
  /** Reserved, reads 0: versions are told apart by feature bits, as in every virtio device. */
  Reserved0: 0x00,
  HostRequest: 0x04,
  HostRequestSeq: 0x08,
  InventorySize: 0x0c,
  InventoryGeneration: 0x10,
  Command: 0x14,
  MaxRead: 0x18,
  Reserved: 0x1c,
} as const;
export const CONFIG_SIZE = 0x20;

/**
 * Values of the config field `host_request`. PowerOff is a press of the power button: the guest's own
 * policy decides (it may ask the user, or refuse). ForcePowerOff is the later, insistent request: shut down
 * in order without asking. 3 is reserved for SUSPEND.
 */
export const HostRequest = { None: 0, PowerOff: 1, Reboot: 2, ForcePowerOff: 4 } as const;
export type HostRequestCode = (typeof HostRequest)[keyof typeof HostRequest];

/** The key in the upper half of `command` makes a stray or partial write harmless. */
export const COMMAND_KEY = 0x5057;
export const Command = {
  PowerOff: ((COMMAND_KEY << 16) | 1) >>> 0,
  Reboot: ((COMMAND_KEY << 16) | 2) >>> 0,
} as const;

export const RequestType = {
  InventoryRead: 1,
  Ack: 2,
  PowerOff: 3,
  Reboot: 4,
} as const;

export const Status = { Ok: 0, Unsupported: 1, Invalid: 2 } as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

export const REQUEST_SIZE = 16;
export const RESPONSE_HEADER_SIZE = 16;
/** Largest inventory slice the device returns per INVENTORY_READ (config field `max_read`). */
export const MAX_READ = 65536;

/** ACK `result` values. */
export const AckResult = { Accepted: 0, Refused: 1 } as const;

export const EventType = { DeviceAdded: 1, DeviceRemoved: 2, EventsLost: 3 } as const;
export const EVENT_SIZE = 32;

/**
 * Interrupt trigger of a device in an event or inventory entry, in the devicetree/Linux IRQ_TYPE encoding so
 * a driver passes it on unchanged. None: the device has no interrupt (its `irq` is meaningless, which lets
 * interrupt 0 — GIC SPI 0, I/O APIC pin 0 — be a real one).
 */
export const IrqType = { None: 0, EdgeRising: 1, EdgeFalling: 2, LevelHigh: 4, LevelLow: 8 } as const;
export type IrqTypeCode = (typeof IrqType)[keyof typeof IrqType];
const IRQ_TYPES: readonly number[] = Object.values(IrqType);
export const isIrqType = (v: number): v is IrqTypeCode => IRQ_TYPES.includes(v);

/** Inventory blob layout. */
export const INVENTORY_MAGIC = 0x4e495056; // "VPIN"
export const INVENTORY_FORMAT = 1;
export const INVENTORY_HEADER_SIZE = 128;
export const INVENTORY_ENTRY_SIZE = 72;
/** Where the name starts in a device entry. */
export const ENTRY_NAME_OFFSET = 40;
export const MACHINE_NAME_SIZE = 48;
export const DEVICE_NAME_SIZE = 32;
/** Bounds the blob to 128 + 1024 * 72 bytes (73 856). */
export const MAX_INVENTORY_DEVICES = 1024;

export const InterruptController = {
  Unknown: 0,
  RiscvPlic: 1,
  RiscvAplic: 2,
  X86Ioapic: 3,
  ArmGic: 4,
} as const;
export const TimerKind = {
  Unknown: 0,
  RiscvAclintMtimer: 1,
  RiscvSbi: 2,
  X86Lapic: 3,
  ArmGeneric: 4,
} as const;
export const Transport = { VirtioMmio: 1, VirtioPci: 2 } as const;
export const EntryFlag = { Hotplugged: 1, Self: 2 } as const;

/** A virtio-pci function's address as inventory entries and events carry it in `base`. */
export function pciAddress(segment: number, bus: number, device: number, fn: number): number {
  return ((segment & 0xffff) * 0x1_0000 + ((bus & 0xff) << 8) + ((device & 0x1f) << 3) + (fn & 7)) >>> 0;
}

/** The machine as the host describes it (the inventory provider returns this). */
export interface Inventory {
  name: string;
  /** 16 bytes, or a canonical 8-4-4-4-12 hex string. */
  uuid: Uint8Array | string;
  harts: number;
  ramBase: number;
  ramSize: number;
  interruptController: keyof typeof InterruptController;
  /**
   * Register base of the interrupt controller that devices' `irq` numbers refer to (the PLIC, APLIC, GIC
   * distributor or I/O APIC), so a guest can tell it apart from others of the same kind; 0 when unknown.
   */
  irqchipBase?: number;
  timer: keyof typeof TimerKind;
  /** Version of the virtio-desktop machine specification, e.g. [0, 1]. */
  specVersion: readonly [number, number];
  devices: readonly InventoryDevice[];
}

export interface InventoryDevice {
  /** Virtio device ID. */
  deviceId: number;
  /** virtio-mmio: the window's address. virtio-pci: the function's address, {@link pciAddress}. */
  base: number;
  /** virtio-mmio: the window's size. virtio-pci: 0. */
  size: number;
  /**
   * Interrupt number in the numbering the machine's description uses for the controller that serves the
   * virtio-power device: PLIC/APLIC source, GIC SPI number (INTID − 32), I/O APIC pin.
   */
  irq: number;
  /** Trigger of `irq`; default LevelHigh (virtio-mmio's interrupt is a level). None: no interrupt. */
  irqType?: IrqTypeCode;
  /** Seq of the DEVICE_ADDED event that announced it; 0 for a device present at boot. */
  instance?: number;
  /** Plugin name, e.g. "virtio-blk"; truncated to 31 bytes. */
  name: string;
  transport?: keyof typeof Transport;
  /** Added after boot: not in the boot device tree, so a guest must create it itself. */
  hotplugged?: boolean;
  /** This entry is the virtio-power device itself. */
  self?: boolean;
}

const TWO32 = 0x1_0000_0000;

function setU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / TWO32) >>> 0, true);
}

function getU64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

/** UTF-8 in a fixed NUL-padded field, cut at a character boundary so a guest never sees half a code point. */
function putString(out: Uint8Array, off: number, size: number, s: string): void {
  const enc = new TextEncoder().encode(s);
  let n = Math.min(enc.length, size - 1);
  while (n > 0 && n < enc.length && (enc[n] & 0xc0) === 0x80) n--;
  out.set(enc.subarray(0, n), off);
}

function getString(b: Uint8Array, off: number, size: number): string {
  const f = b.subarray(off, off + size);
  const end = f.indexOf(0);
  return new TextDecoder().decode(end < 0 ? f : f.subarray(0, end));
}

export function parseUuid(u: Uint8Array | string): Uint8Array {
  if (u instanceof Uint8Array) {
    if (u.length !== 16) throw new RangeError('uuid must be 16 bytes');
    return u.slice();
  }
  const hex = u.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || !/^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/.test(u))
    throw new RangeError(`uuid "${u}" is not in 8-4-4-4-12 hex form`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function formatUuid(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const u32ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const u64ok = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;

/**
 * Serialise an inventory. Throws RangeError on values that do not fit the format (the device catches it
 * and serves an empty inventory rather than a corrupt one).
 */
export function encodeInventory(inv: Inventory, generation: number): Uint8Array {
  if (inv.devices.length > MAX_INVENTORY_DEVICES)
    throw new RangeError(`${inv.devices.length} devices exceed the limit of ${MAX_INVENTORY_DEVICES}`);
  if (!u32ok(inv.harts) || !u64ok(inv.ramBase) || !u64ok(inv.ramSize) || !u64ok(inv.irqchipBase ?? 0))
    throw new RangeError('harts, ramBase or ramSize out of range');
  const [major, minor] = inv.specVersion;
  if (!(major >= 0 && major <= 0xffff && minor >= 0 && minor <= 0xffff))
    throw new RangeError('specVersion parts must be 16-bit');
  const total = INVENTORY_HEADER_SIZE + INVENTORY_ENTRY_SIZE * inv.devices.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, INVENTORY_MAGIC, true);
  dv.setUint16(4, INVENTORY_FORMAT, true);
  dv.setUint16(6, INVENTORY_HEADER_SIZE, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, generation >>> 0, true);
  out.set(parseUuid(inv.uuid), 16);
  setU64(dv, 32, inv.ramBase);
  setU64(dv, 40, inv.ramSize);
  dv.setUint32(48, inv.harts, true);
  dv.setUint16(52, InterruptController[inv.interruptController] ?? 0, true);
  dv.setUint16(54, TimerKind[inv.timer] ?? 0, true);
  dv.setUint16(56, major, true);
  dv.setUint16(58, minor, true);
  dv.setUint16(60, INVENTORY_ENTRY_SIZE, true);
  dv.setUint32(64, inv.devices.length, true);
  dv.setUint32(68, INVENTORY_HEADER_SIZE, true);
  setU64(dv, 72, inv.irqchipBase ?? 0);
  putString(out, 80, MACHINE_NAME_SIZE, inv.name);
  inv.devices.forEach((d, i) => {
    if (
      !u32ok(d.deviceId) ||
      !u32ok(d.irq) ||
      !u64ok(d.base) ||
      !u64ok(d.size) ||
      !u32ok(d.instance ?? 0) ||
      !isIrqType(d.irqType ?? IrqType.LevelHigh)
    )
      throw new RangeError(`device ${i} ("${d.name}") has a field out of range`);
    const o = INVENTORY_HEADER_SIZE + i * INVENTORY_ENTRY_SIZE;
    dv.setUint32(o, d.deviceId, true);
    dv.setUint32(o + 4, d.irq, true);
    setU64(dv, o + 8, d.base);
    setU64(dv, o + 16, d.size);
    dv.setUint16(o + 24, Transport[d.transport ?? 'VirtioMmio'], true);
    dv.setUint16(o + 26, (d.hotplugged ? EntryFlag.Hotplugged : 0) | (d.self ? EntryFlag.Self : 0), true);
    dv.setUint32(o + 28, d.instance ?? 0, true);
    out[o + 32] = d.irqType ?? IrqType.LevelHigh;
    putString(out, o + ENTRY_NAME_OFFSET, DEVICE_NAME_SIZE, d.name);
  });
  return out;
}

/** What a driver reads back; used by tests and tools. Returns a string describing the first defect. */
export interface DecodedInventory extends Omit<
  Inventory,
  'uuid' | 'interruptController' | 'timer' | 'irqchipBase'
> {
  irqchipBase: number;
  uuid: string;
  generation: number;
  interruptController: number;
  timer: number;
  format: number;
  devices: (InventoryDevice & { transportCode: number; flags: number; irqTypeCode: number })[];
}

export function decodeInventory(b: Uint8Array): DecodedInventory | string {
  if (b.length < INVENTORY_HEADER_SIZE) return 'shorter than the header';
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0, true) !== INVENTORY_MAGIC) return 'bad magic';
  const format = dv.getUint16(4, true);
  // A new format number means an incompatible layout; compatible growth only raises the two sizes.
  if (format !== INVENTORY_FORMAT) return `unknown format ${format}`;
  const headerSize = dv.getUint16(6, true);
  const total = dv.getUint32(8, true);
  const entrySize = dv.getUint16(60, true);
  const count = dv.getUint32(64, true);
  const devOff = dv.getUint32(68, true);
  if (total !== b.length) return `total_size ${total} but ${b.length} bytes`;
  if (headerSize < INVENTORY_HEADER_SIZE || entrySize < INVENTORY_ENTRY_SIZE)
    return 'header or entry too small';
  if (devOff < headerSize || devOff + count * entrySize > total) return 'device table outside the blob';
  const devices: DecodedInventory['devices'] = [];
  for (let i = 0; i < count; i++) {
    const o = devOff + i * entrySize;
    const flags = dv.getUint16(o + 26, true);
    devices.push({
      deviceId: dv.getUint32(o, true),
      irq: dv.getUint32(o + 4, true),
      base: getU64(dv, o + 8),
      size: getU64(dv, o + 16),
      transportCode: dv.getUint16(o + 24, true),
      flags,
      hotplugged: (flags & EntryFlag.Hotplugged) !== 0,
      self: (flags & EntryFlag.Self) !== 0,
      instance: dv.getUint32(o + 28, true),
      irqTypeCode: b[o + 32],
      name: getString(b, o + ENTRY_NAME_OFFSET, DEVICE_NAME_SIZE),
    });
  }
  return {
    name: getString(b, 80, MACHINE_NAME_SIZE),
    uuid: formatUuid(b.subarray(16, 32)),
    generation: dv.getUint32(12, true),
    format,
    ramBase: getU64(dv, 32),
    ramSize: getU64(dv, 40),
    harts: dv.getUint32(48, true),
    interruptController: dv.getUint16(52, true),
    irqchipBase: getU64(dv, 72),
    timer: dv.getUint16(54, true),
    specVersion: [dv.getUint16(56, true), dv.getUint16(58, true)],
    devices,
  };
}

/** A driver request: 16 bytes, the first bytes of the chain's device-readable part. */
export interface PowerRequest {
  type: number;
  /** Reserved, must be 0. */
  flags: number;
  arg0: number;
  arg1: number;
}

export function encodeRequest(r: PowerRequest): Uint8Array {
  const b = new Uint8Array(REQUEST_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r.type >>> 0, true);
  dv.setUint32(4, r.flags >>> 0, true);
  dv.setUint32(8, r.arg0 >>> 0, true);
  dv.setUint32(12, r.arg1 >>> 0, true);
  return b;
}

export function decodeRequest(b: Uint8Array): PowerRequest | null {
  if (b.length < REQUEST_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    type: dv.getUint32(0, true),
    flags: dv.getUint32(4, true),
    arg0: dv.getUint32(8, true),
    arg1: dv.getUint32(12, true),
  };
}

/** Response header: status, then fields meaningful for INVENTORY_READ (zero otherwise). */
export interface PowerResponse {
  status: number;
  generation: number;
  totalSize: number;
  length: number;
}

export function encodeResponse(r: PowerResponse): Uint8Array {
  const b = new Uint8Array(RESPONSE_HEADER_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r.status >>> 0, true);
  dv.setUint32(4, r.generation >>> 0, true);
  dv.setUint32(8, r.totalSize >>> 0, true);
  dv.setUint32(12, r.length >>> 0, true);
  return b;
}

export function decodeResponse(b: Uint8Array): PowerResponse | null {
  if (b.length < RESPONSE_HEADER_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    status: dv.getUint32(0, true),
    generation: dv.getUint32(4, true),
    totalSize: dv.getUint32(8, true),
    length: dv.getUint32(12, true),
  };
}

/** An eventq entry (32 bytes). */
export interface PowerEvent {
  type: number;
  /** Transport code of the device (Transport); 0 in EVENTS_LOST. */
  transport: number;
  /** IrqType code of `irq`; 0 (None) when the device has no interrupt, and in EVENTS_LOST. */
  irqType: number;
  seq: number;
  deviceId: number;
  irq: number;
  base: number;
  size: number;
}

export function encodeEvent(e: PowerEvent): Uint8Array {
  const b = new Uint8Array(EVENT_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, e.type, true);
  b[2] = e.transport;
  b[3] = e.irqType;
  dv.setUint32(4, e.seq >>> 0, true);
  dv.setUint32(8, e.deviceId >>> 0, true);
  dv.setUint32(12, e.irq >>> 0, true);
  setU64(dv, 16, e.base);
  setU64(dv, 24, e.size);
  return b;
}

export function decodeEvent(b: Uint8Array): PowerEvent | null {
  if (b.length < EVENT_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    type: dv.getUint16(0, true),
    transport: b[2],
    irqType: b[3],
    seq: dv.getUint32(4, true),
    deviceId: dv.getUint32(8, true),
    irq: dv.getUint32(12, true),
    base: getU64(dv, 16),
    size: getU64(dv, 24),
  };
}
