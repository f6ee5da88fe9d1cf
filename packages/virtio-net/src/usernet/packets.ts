/**
 * The packet formats the user-mode network speaks (Ethernet II, ARP, IPv4, ICMP echo, UDP, TCP, DHCP,
 * DNS), parsed and built in this one place. Parsers return null for anything malformed: the guest is
 * untrusted and a bad packet is dropped, never thrown on.
 */
import { inetChecksum } from '../protocol.js';

export const EtherType = { Ipv4: 0x0800, Arp: 0x0806 } as const;
export const IpProto = { Icmp: 1, Tcp: 6, Udp: 17 } as const;
export const Tcp = { Fin: 1, Syn: 2, Rst: 4, Psh: 8, Ack: 16 } as const;

export const ipStr = (ip: number) => [24, 16, 8, 0].map((s) => (ip >>> s) & 255).join('.');
export const ipNum = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

export interface Eth {
  dst: Uint8Array;
  src: Uint8Array;
  type: number;
  payload: Uint8Array;
}

export function parseEth(f: Uint8Array): Eth | null {
  if (f.length < 14) return null;
  return {
    dst: f.subarray(0, 6),
    src: f.subarray(6, 12),
    type: (f[12] << 8) | f[13],
    payload: f.subarray(14),
  };
}

export function buildEth(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 255;
  f.set(payload, 14);
  return f;
}

export interface Arp {
  op: number;
  sha: Uint8Array;
  spa: number;
  tpa: number;
}

export function parseArp(p: Uint8Array): Arp | null {
  if (p.length < 28) return null;
  const dv = new DataView(p.buffer, p.byteOffset, 28);
  if (dv.getUint16(0) !== 1 || dv.getUint16(2) !== EtherType.Ipv4 || p[4] !== 6 || p[5] !== 4) return null;
  return { op: dv.getUint16(6), sha: p.subarray(8, 14), spa: dv.getUint32(14), tpa: dv.getUint32(24) };
}

export function buildArpReply(sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const p = new Uint8Array(28);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, EtherType.Ipv4);
  p[4] = 6;
  p[5] = 4;
  dv.setUint16(6, 2);
  p.set(sha, 8);
  dv.setUint32(14, spa);
  p.set(tha, 18);
  dv.setUint32(24, tpa);
  return p;
}

export interface Ip {
  src: number;
  dst: number;
  proto: number;
  payload: Uint8Array;
}

export function parseIp(p: Uint8Array): Ip | null {
  if (p.length < 20 || p[0] >> 4 !== 4) return null;
  const ihl = (p[0] & 15) * 4;
  const total = (p[2] << 8) | p[3];
  if (ihl < 20 || total < ihl || total > p.length) return null;
  if (((p[6] << 8) | p[7]) & 0x3fff) return null; // fragments: the guest's MTU never needs them here
  if (inetChecksum(p, 0, ihl) !== 0) return null;
  const dv = new DataView(p.buffer, p.byteOffset, 20);
  return { src: dv.getUint32(12), dst: dv.getUint32(16), proto: p[9], payload: p.subarray(ihl, total) };
}

let ipId = 1;
export function buildIp(src: number, dst: number, proto: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  dv.setUint16(4, ipId++ & 0xffff);
  dv.setUint16(6, 0x4000); // don't fragment
  p[8] = 64;
  p[9] = proto;
  dv.setUint32(12, src);
  dv.setUint32(16, dst);
  dv.setUint16(10, inetChecksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

/** Sum of the TCP/UDP pseudo header, to seed the checksum of the segment. */
function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

export function l4Checksum(src: number, dst: number, proto: number, seg: Uint8Array): number {
  return inetChecksum(seg, 0, seg.length, pseudo(src, dst, proto, seg.length));
}

export interface Udp {
  sport: number;
  dport: number;
  data: Uint8Array;
}

export function parseUdp(p: Uint8Array): Udp | null {
  if (p.length < 8) return null;
  const len = (p[4] << 8) | p[5];
  if (len < 8 || len > p.length) return null;
  return { sport: (p[0] << 8) | p[1], dport: (p[2] << 8) | p[3], data: p.subarray(8, len) };
}

export function buildUdp(
  src: number,
  dst: number,
  sport: number,
  dport: number,
  data: Uint8Array,
): Uint8Array {
  const s = new Uint8Array(8 + data.length);
  const dv = new DataView(s.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, s.length);
  s.set(data, 8);
  dv.setUint16(6, l4Checksum(src, dst, IpProto.Udp, s) || 0xffff);
  return buildIp(src, dst, IpProto.Udp, s);
}

export interface TcpSeg {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number;
  data: Uint8Array;
}

export function parseTcp(p: Uint8Array): TcpSeg | null {
  if (p.length < 20) return null;
  const off = (p[12] >> 4) * 4;
  if (off < 20 || off > p.length) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  let mss = 536;
  for (let i = 20; i < off;) {
    const kind = p[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len < 2 || i + len > off) return null;
    if (kind === 2 && len === 4) mss = dv.getUint16(i + 2);
    i += len;
  }
  return {
    sport: dv.getUint16(0),
    dport: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: p[13],
    window: dv.getUint16(14),
    mss,
    data: p.subarray(off),
  };
}

export function buildTcp(
  src: number,
  dst: number,
  s: { sport: number; dport: number; seq: number; ack: number; flags: number; window: number; mss?: number },
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const opt = s.mss ? 4 : 0;
  const seg = new Uint8Array(20 + opt + data.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, s.sport);
  dv.setUint16(2, s.dport);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, s.ack >>> 0);
  seg[12] = ((20 + opt) / 4) << 4;
  seg[13] = s.flags;
  dv.setUint16(14, s.window);
  if (s.mss) {
    seg[20] = 2;
    seg[21] = 4;
    dv.setUint16(22, s.mss);
  }
  seg.set(data, 20 + opt);
  dv.setUint16(16, l4Checksum(src, dst, IpProto.Tcp, seg));
  return buildIp(src, dst, IpProto.Tcp, seg);
}
