/**
 * The viewer's wire format, in one place (server and browser client both import it).
 *
 * Server → client: binary WebSocket messages, little-endian, first byte the type.
 *   RESIZE  1  u16 width, u16 height
 *   RECT    2  u8 encoding (0 raw RGBA, 1 deflate-raw RGBA), u16 x, y, w, h, payload
 *   CURSOR  3  u16 hotX, hotY, w, h, RGBA payload (w = h = 0: hide the cursor image)
 *   MOVE    4  i16 x, i16 y, u8 visible
 *   CLIPBOARD 5  UTF-8 text: the guest's clipboard changed (at most {@link MAX_CLIPBOARD} bytes)
 * Client → server: JSON text messages, checked by {@link parseClientMessage}.
 */

export const MsgType = { Resize: 1, Rect: 2, Cursor: 3, Move: 4, Clipboard: 5 } as const;

/** Largest clipboard text either way, in UTF-8 bytes (the guest agent's limit: spec/clipboard.md). */
export const MAX_CLIPBOARD = 1 << 20;
/**
 * Characters of one 'clipboard' client message: the page's clipboard goes in pieces (the last has
 * `last: true`) so that every message stays small; 500 characters stay under the message limit even if
 * JSON escapes each one as \uXXXX.
 */
export const CLIPBOARD_PIECE = 500;
export const Encoding = { Raw: 0, Deflate: 1 } as const;

const RECT_HEADER = 10;

export function encodeResize(width: number, height: number): Uint8Array {
  const b = new Uint8Array(5);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, MsgType.Resize);
  dv.setUint16(1, width, true);
  dv.setUint16(3, height, true);
  return b;
}

export function encodeRect(
  x: number,
  y: number,
  w: number,
  h: number,
  encoding: number,
  payload: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(RECT_HEADER + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, MsgType.Rect);
  dv.setUint8(1, encoding);
  dv.setUint16(2, x, true);
  dv.setUint16(4, y, true);
  dv.setUint16(6, w, true);
  dv.setUint16(8, h, true);
  b.set(payload, RECT_HEADER);
  return b;
}

export function encodeCursor(hotX: number, hotY: number, w: number, h: number, rgba: Uint8Array): Uint8Array {
  const b = new Uint8Array(9 + rgba.length);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, MsgType.Cursor);
  dv.setUint16(1, hotX, true);
  dv.setUint16(3, hotY, true);
  dv.setUint16(5, w, true);
  dv.setUint16(7, h, true);
  b.set(rgba, 9);
  return b;
}

export function encodeMove(x: number, y: number, visible: boolean): Uint8Array {
  const b = new Uint8Array(6);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, MsgType.Move);
  dv.setInt16(1, x, true);
  dv.setInt16(3, y, true);
  dv.setUint8(5, visible ? 1 : 0);
  return b;
}

export function encodeClipboard(text: string): Uint8Array {
  const t = new TextEncoder().encode(text);
  const b = new Uint8Array(1 + t.length);
  b[0] = MsgType.Clipboard;
  b.set(t, 1);
  return b;
}

export type ServerMessage =
  | { type: 'clipboard'; text: string }
  | { type: 'resize'; width: number; height: number }
  | { type: 'rect'; x: number; y: number; w: number; h: number; encoding: number; payload: Uint8Array }
  | { type: 'cursor'; hotX: number; hotY: number; w: number; h: number; rgba: Uint8Array }
  | { type: 'move'; x: number; y: number; visible: boolean };

/** Decode a server message; null when it is malformed (the client then ignores it). */
export function decodeServerMessage(b: Uint8Array): ServerMessage | null {
  if (b.length < 1) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (b[0]) {
    case MsgType.Resize:
      return b.length === 5
        ? { type: 'resize', width: dv.getUint16(1, true), height: dv.getUint16(3, true) }
        : null;
    case MsgType.Rect:
      if (b.length < RECT_HEADER) return null;
      return {
        type: 'rect',
        encoding: b[1],
        x: dv.getUint16(2, true),
        y: dv.getUint16(4, true),
        w: dv.getUint16(6, true),
        h: dv.getUint16(8, true),
        payload: b.subarray(RECT_HEADER),
      };
    case MsgType.Cursor: {
      if (b.length < 9) return null;
      const w = dv.getUint16(5, true);
      const h = dv.getUint16(7, true);
      if (b.length !== 9 + w * h * 4) return null;
      return {
        type: 'cursor',
        hotX: dv.getUint16(1, true),
        hotY: dv.getUint16(3, true),
        w,
        h,
        rgba: b.subarray(9),
      };
    }
    case MsgType.Clipboard:
      return b.length - 1 <= MAX_CLIPBOARD
        ? { type: 'clipboard', text: new TextDecoder().decode(b.subarray(1)) }
        : null;
    case MsgType.Move:
      return b.length === 6
        ? { type: 'move', x: dv.getInt16(1, true), y: dv.getInt16(3, true), visible: b[5] === 1 }
        : null;
    default:
      return null;
  }
}

/** Pointer coordinates travel as fractions of the screen (0..1), so the page's scaling does not matter. */
/**
 * A key: `code` the physical key (KeyboardEvent.code; "" or "Unidentified" when the client has none),
 * `key` the character or key name it produced, `mods` the client's modifier bits (keys.ts `Mod`).
 * A text: characters from an IME composition or a paste, typed through the guest's keymap.
 * A clipboard: a piece of the page's clipboard text for the guest's clipboard; pieces of one text follow
 * each other, the last with `last: true` ({@link CLIPBOARD_PIECE}, {@link MAX_CLIPBOARD}).
 */
export type ClientMessage =
  | { t: 'key'; code: string; down: boolean; key?: string; mods?: number }
  | { t: 'text'; text: string }
  | { t: 'clipboard'; text: string; last: boolean }
  | { t: 'pointer'; x: number; y: number; buttons: number }
  | { t: 'wheel'; dx: number; dy: number }
  | { t: 'touch'; contacts: { id: number; x: number; y: number }[] }
  | { t: 'resize'; width: number; height: number };

const MAX_MESSAGE = 4096;
/** Characters of one text message (a paste is sent in pieces of this size). */
export const MAX_TEXT = 1000;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown, lo: number, hi: number): v is number =>
  Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

/** Parse and check a message from a page; a string is the reason it was rejected. */
export function parseClientMessage(text: string): ClientMessage | string {
  if (text.length > MAX_MESSAGE) return `message of ${text.length} bytes is too long`;
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not an object';
  const o = m as Record<string, unknown>;
  switch (o.t) {
    case 'key': {
      if (typeof o.code !== 'string' || o.code.length > 32 || typeof o.down !== 'boolean')
        return 'key needs code (string) and down (boolean)';
      if (o.key !== undefined && (typeof o.key !== 'string' || o.key.length > 32))
        return 'key: key must be a string of at most 32 characters';
      if (o.mods !== undefined && !isInt(o.mods, 0, 63)) return 'key: mods must be an integer 0-63';
      if (o.code === '' && (o.key === undefined || o.key === '')) return 'key needs a code or a key';
      return {
        t: 'key',
        code: o.code,
        down: o.down,
        ...(o.key !== undefined ? { key: o.key } : {}),
        ...(o.mods !== undefined ? { mods: o.mods } : {}),
      };
    }
    case 'text':
      if (typeof o.text !== 'string' || o.text.length === 0 || o.text.length > MAX_TEXT)
        return `text needs 1 to ${MAX_TEXT} characters`;
      return { t: 'text', text: o.text };
    case 'clipboard':
      if (typeof o.text !== 'string' || o.text.length > CLIPBOARD_PIECE || typeof o.last !== 'boolean')
        return `clipboard needs text (at most ${CLIPBOARD_PIECE} characters) and last (boolean)`;
      return { t: 'clipboard', text: o.text, last: o.last };
    case 'pointer':
      if (!isNum(o.x) || !isNum(o.y) || !isInt(o.buttons, 0, 31))
        return 'pointer needs x, y (numbers) and buttons (0-31)';
      return { t: 'pointer', x: o.x, y: o.y, buttons: o.buttons };
    case 'wheel':
      if (!isNum(o.dx) || !isNum(o.dy)) return 'wheel needs dx and dy';
      return { t: 'wheel', dx: o.dx, dy: o.dy };
    case 'touch': {
      if (!Array.isArray(o.contacts) || o.contacts.length > 10) return 'touch needs at most 10 contacts';
      const contacts: { id: number; x: number; y: number }[] = [];
      for (const c of o.contacts as unknown[]) {
        const k = c as Record<string, unknown>;
        if (typeof c !== 'object' || c === null || !isInt(k.id, 0, 0xffff) || !isNum(k.x) || !isNum(k.y))
          return 'each touch contact needs id (integer), x and y';
        contacts.push({ id: k.id, x: k.x, y: k.y });
      }
      return { t: 'touch', contacts };
    }
    case 'resize':
      if (!isInt(o.width, 1, 16384) || !isInt(o.height, 1, 16384))
        return 'resize needs integer width and height';
      return { t: 'resize', width: o.width, height: o.height };
    default:
      // The value itself is never stringified whole: deep nesting overflows JSON.stringify's stack.
      return `unknown message type ${
        typeof o.t === 'string'
          ? JSON.stringify(o.t.slice(0, 20))
          : typeof o.t === 'object' && o.t !== null
            ? 'an object'
            : String(o.t)
      }`;
  }
}
