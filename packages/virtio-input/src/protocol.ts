/**
 * virtio-input wire formats (virtio spec "Input Device", device ID 18), parsed and built in this one
 * place: the 8-byte event, the 136-byte configuration space and its select/subsel queries, and the evdev
 * type and code numbers (linux/input-event-codes.h) the profiles use.
 */

export const INPUT_DEVICE_ID = 18;
export const EVENT_SIZE = 8;
export const CONFIG_SIZE = 136;
/** Offset of the union in the configuration space. */
export const CONFIG_UNION = 8;
export const CONFIG_UNION_SIZE = 128;

export const QueueIndex = { Event: 0, Status: 1 } as const;

/** virtio_input_config_select. */
export const ConfigSelect = {
  Unset: 0x00,
  IdName: 0x01,
  IdSerial: 0x02,
  IdDevids: 0x03,
  PropBits: 0x10,
  EvBits: 0x11,
  AbsInfo: 0x12,
} as const;

export const ConfigOffset = { Select: 0, Subsel: 1, Size: 2 } as const;

/** Event types. */
export const Ev = {
  Syn: 0x00,
  Key: 0x01,
  Rel: 0x02,
  Abs: 0x03,
  Msc: 0x04,
  Sw: 0x05,
  Led: 0x11,
  Snd: 0x12,
  Rep: 0x14,
  Max: 0x1f,
} as const;

export const SYN_REPORT = 0;
export const SYN_DROPPED = 3;

export const Btn = {
  Left: 0x110,
  Right: 0x111,
  Middle: 0x112,
  Side: 0x113,
  Extra: 0x114,
  Touch: 0x14a,
} as const;

export const Rel = { HWheel: 0x06, Wheel: 0x08, WheelHiRes: 0x0b, HWheelHiRes: 0x0c } as const;

export const Abs = {
  X: 0x00,
  Y: 0x01,
  MtSlot: 0x2f,
  MtPositionX: 0x35,
  MtPositionY: 0x36,
  MtTrackingId: 0x39,
} as const;

export const Led = { NumLock: 0x00, CapsLock: 0x01, ScrollLock: 0x02 } as const;

export const InputProp = { Pointer: 0x00, Direct: 0x01 } as const;

export const BUS_VIRTUAL = 0x06;
/** Highest code of any event type (KEY_MAX); bitmaps never exceed 128 bytes = 1024 bits. */
export const CODE_MAX = 0x2ff;

export interface AbsInfo {
  min: number;
  max: number;
  fuzz?: number;
  flat?: number;
  res?: number;
}

export interface DevIds {
  bustype: number;
  vendor: number;
  product: number;
  version: number;
}

/** One evdev event; `value` is a signed 32-bit integer (written as its two's complement). */
export interface InputEvent {
  type: number;
  code: number;
  value: number;
}

export function encodeEvent(e: InputEvent, out: Uint8Array = new Uint8Array(EVENT_SIZE)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, EVENT_SIZE);
  dv.setUint16(0, e.type, true);
  dv.setUint16(2, e.code, true);
  dv.setInt32(4, e.value | 0, true);
  return out;
}

export function decodeEvent(b: Uint8Array): InputEvent | null {
  if (b.length < EVENT_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, EVENT_SIZE);
  return { type: dv.getUint16(0, true), code: dv.getUint16(2, true), value: dv.getInt32(4, true) };
}

/** A bitmap of codes, trimmed to the highest set byte as Linux expects (size = bytes that matter). */
export function bitmap(codes: Iterable<number>): Uint8Array {
  const b = new Uint8Array(CONFIG_UNION_SIZE);
  let top = 0;
  for (const c of codes) {
    if (!Number.isInteger(c) || c < 0 || c >= CONFIG_UNION_SIZE * 8) continue;
    b[c >> 3] |= 1 << (c & 7);
    top = Math.max(top, (c >> 3) + 1);
  }
  return b.subarray(0, top);
}

export function encodeAbsInfo(a: AbsInfo): Uint8Array {
  const out = new Uint8Array(20);
  const dv = new DataView(out.buffer);
  [a.min, a.max, a.fuzz ?? 0, a.flat ?? 0, a.res ?? 0].forEach((v, i) => dv.setInt32(i * 4, v | 0, true));
  return out;
}

export function encodeDevIds(d: DevIds): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  [d.bustype, d.vendor, d.product, d.version].forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
  return out;
}

/** What a device answers to configuration queries. */
export interface InputProfile {
  name: string;
  serial: string;
  ids: DevIds;
  props: readonly number[];
  /** Supported codes by event type (EV_KEY, EV_REL, EV_ABS, EV_LED, EV_REP...). */
  events: ReadonlyMap<number, readonly number[]>;
  abs: ReadonlyMap<number, AbsInfo>;
}

/** The union's bytes for a select/subsel pair; an empty array means "not supported" (size 0). */
export function configAnswer(p: InputProfile, select: number, subsel: number): Uint8Array {
  const text = (s: string) => new TextEncoder().encode(s).subarray(0, CONFIG_UNION_SIZE);
  switch (select) {
    case ConfigSelect.IdName:
      return subsel === 0 ? text(p.name) : new Uint8Array(0);
    case ConfigSelect.IdSerial:
      return subsel === 0 ? text(p.serial) : new Uint8Array(0);
    case ConfigSelect.IdDevids:
      return subsel === 0 ? encodeDevIds(p.ids) : new Uint8Array(0);
    case ConfigSelect.PropBits:
      return subsel === 0 ? bitmap(p.props) : new Uint8Array(0);
    case ConfigSelect.EvBits: {
      const codes = p.events.get(subsel);
      if (!codes) return new Uint8Array(0);
      // EV_REP has no codes, but a nonzero size is how the driver learns it is supported.
      if (subsel === Ev.Rep) return new Uint8Array(1);
      return bitmap(codes);
    }
    case ConfigSelect.AbsInfo: {
      const a = p.abs.get(subsel);
      return a ? encodeAbsInfo(a) : new Uint8Array(0);
    }
    default:
      return new Uint8Array(0);
  }
}
