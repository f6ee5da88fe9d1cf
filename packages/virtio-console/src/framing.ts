/**
 * The clipboard channel's framing (spec/clipboard.md): a port is a byte stream, so each message is an
 * 8-byte header — u16 type, u16 flags (0), u32 payload length, little-endian — and its payload. Both
 * sides parse with a hard bound on the payload, so a hostile peer can make us allocate at most
 * {@link MAX_PAYLOAD} bytes and never desynchronise silently: a bad header is an error that closes the
 * stream.
 */

export const HEADER_SIZE = 8;
/** Largest payload either side sends or accepts: 1 MiB (clipboard text as UTF-8). */
export const MAX_PAYLOAD = 1 << 20;
/** Version of the protocol in HELLO. */
export const PROTOCOL_VERSION = 1;

export const FrameType = {
  /** u32 version, u32 largest payload the sender accepts. The agent sends it first; the host answers. */
  Hello: 1,
  /** The CLIPBOARD selection's text, UTF-8 (empty: the selection has no text). */
  Text: 2,
} as const;

export interface Frame {
  type: number;
  payload: Uint8Array;
}

export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`payload of ${payload.length} bytes > ${MAX_PAYLOAD}`);
  const b = new Uint8Array(HEADER_SIZE + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, type, true);
  dv.setUint16(2, 0, true);
  dv.setUint32(4, payload.length, true);
  b.set(payload, HEADER_SIZE);
  return b;
}

export function encodeHello(maxPayload = MAX_PAYLOAD): Uint8Array {
  const p = new Uint8Array(8);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, PROTOCOL_VERSION, true);
  dv.setUint32(4, maxPayload, true);
  return encodeFrame(FrameType.Hello, p);
}

/** HELLO's payload; null when it is too short (longer payloads are for later versions: ignored). */
export function decodeHello(p: Uint8Array): { version: number; maxPayload: number } | null {
  if (p.length < 8) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return { version: dv.getUint32(0, true), maxPayload: dv.getUint32(4, true) };
}

/**
 * Splits a byte stream into frames. Bytes arrive in any pieces (one guest write may be split over
 * several buffers, several writes may share one). After an error the parser stays failed until
 * {@link reset}: the stream is out of step and only a reopened port starts it again.
 */
export class FrameParser {
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFill = 0;
  private payload: Uint8Array | null = null;
  private payloadFill = 0;
  private type = 0;
  private failed: string | null = null;

  constructor(readonly maxPayload = MAX_PAYLOAD) {}

  /** Why the stream failed, or null. */
  get error(): string | null {
    return this.failed;
  }

  /** Bytes held for an incomplete frame (bounded by the header and maxPayload). */
  get buffered(): number {
    return this.headerFill + this.payloadFill;
  }

  /** The bytes of the incomplete frame, as they came (a snapshot pushes them into a new parser). */
  partial(): Uint8Array {
    if (!this.payload) return this.header.slice(0, this.headerFill);
    const out = new Uint8Array(HEADER_SIZE + this.payloadFill);
    out.set(this.header);
    out.set(this.payload.subarray(0, this.payloadFill), HEADER_SIZE);
    return out;
  }

  reset(): void {
    this.headerFill = 0;
    this.payload = null;
    this.payloadFill = 0;
    this.failed = null;
  }

  /** Feed bytes; returns the frames they complete. Check {@link error} afterwards. */
  push(bytes: Uint8Array): Frame[] {
    const out: Frame[] = [];
    let i = 0;
    while (i < bytes.length && !this.failed) {
      if (!this.payload) {
        const n = Math.min(HEADER_SIZE - this.headerFill, bytes.length - i);
        this.header.set(bytes.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        if (this.headerFill < HEADER_SIZE) break;
        const dv = new DataView(this.header.buffer);
        const type = dv.getUint16(0, true);
        const flags = dv.getUint16(2, true);
        const length = dv.getUint32(4, true);
        if (flags !== 0) {
          this.failed = `frame flags ${flags} (must be 0)`;
          break;
        }
        if (length > this.maxPayload) {
          this.failed = `frame of ${length} bytes (at most ${this.maxPayload})`;
          break;
        }
        this.type = type;
        this.payload = new Uint8Array(length);
        this.payloadFill = 0;
      }
      const p = this.payload;
      const n = Math.min(p.length - this.payloadFill, bytes.length - i);
      p.set(bytes.subarray(i, i + n), this.payloadFill);
      this.payloadFill += n;
      i += n;
      if (this.payloadFill === p.length) {
        out.push({ type: this.type, payload: p });
        this.payload = null;
        this.payloadFill = 0;
        this.headerFill = 0;
      }
    }
    return out;
  }
}
