/**
 * virtio-net wire formats (virtio spec "Network Device", device ID 1), parsed and built here only: the
 * feature bits we use, the configuration layout and the 12-byte virtio_net_hdr of VIRTIO_F_VERSION_1.
 */

export const NET_DEVICE_ID = 1;

export const NetFeature = {
  Csum: 0,
  GuestCsum: 1,
  Mtu: 3,
  Mac: 5,
  MrgRxbuf: 15,
  Status: 16,
} as const;

export const QueueIndex = { Rx: 0, Tx: 1 } as const;

/** Configuration: mac[6], status u16, max_virtqueue_pairs u16, mtu u16. */
export const ConfigOffset = { Mac: 0, Status: 6, MaxPairs: 8, Mtu: 10 } as const;
export const CONFIG_SIZE = 12;
export const LINK_UP = 1;

export const HDR_SIZE = 12;
export const HdrFlag = { NeedsCsum: 1, DataValid: 2 } as const;
/** Largest frame we accept from the guest: 64 KiB of payload plus an Ethernet header (no GSO offered). */
export const MAX_FRAME = 65550;
export const MTU = 1500;
export const MIN_FRAME = 14;

export interface NetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;
}

export function decodeHdr(b: Uint8Array): NetHdr | null {
  if (b.length < HDR_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, HDR_SIZE);
  return {
    flags: dv.getUint8(0),
    gsoType: dv.getUint8(1),
    hdrLen: dv.getUint16(2, true),
    gsoSize: dv.getUint16(4, true),
    csumStart: dv.getUint16(6, true),
    csumOffset: dv.getUint16(8, true),
    numBuffers: dv.getUint16(10, true),
  };
}

export function encodeHdr(h: Partial<NetHdr>, out: Uint8Array = new Uint8Array(HDR_SIZE)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, HDR_SIZE);
  dv.setUint8(0, h.flags ?? 0);
  dv.setUint8(1, h.gsoType ?? 0);
  dv.setUint16(2, h.hdrLen ?? 0, true);
  dv.setUint16(4, h.gsoSize ?? 0, true);
  dv.setUint16(6, h.csumStart ?? 0, true);
  dv.setUint16(8, h.csumOffset ?? 0, true);
  dv.setUint16(10, h.numBuffers ?? 0, true);
  return out;
}

/** "52:54:00:12:34:56" → 6 bytes, or null when malformed. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i.test(s) ? s.split(':') : null;
  if (!m) return null;
  const b = Uint8Array.from(m.map((x) => parseInt(x, 16)));
  return b[0] & 1 ? null : b; // a multicast address cannot be a station's
}

export const formatMac = (b: Uint8Array): string =>
  Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');

/** The Internet checksum (RFC 1071) of data, folded, starting from a 32-bit partial sum. */
export function inetChecksum(data: Uint8Array, start = 0, end = data.length, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
