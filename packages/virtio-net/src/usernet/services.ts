/**
 * The gateway's own services, as pure functions of one guest packet: ICMP echo, DHCP and DNS. Each returns
 * the reply, null when there is nothing to say, or a string naming why the packet was dropped. No state,
 * no allocation beyond the reply: these are fuzzed directly (test/fuzz.test.ts).
 */
import { ipNum } from './packets.js';

export const NET = ipNum('10.0.2.0');
export const GATEWAY = ipNum('10.0.2.2');
export const DNS = ipNum('10.0.2.3');
export const GUEST = ipNum('10.0.2.15');

/** An ICMP echo reply for an echo request (the ICMP message only), else null. */
export function icmpEchoReply(p: Uint8Array): Uint8Array | null {
  if (p.length < 8 || p[0] !== 8) return null;
  const r = p.slice();
  r[0] = 0;
  r[2] = r[3] = 0;
  let sum = 0;
  for (let i = 0; i + 1 < r.length; i += 2) sum += (r[i] << 8) | r[i + 1];
  if (r.length & 1) sum += r[r.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  r[2] = c >>> 8;
  r[3] = c & 255;
  return r;
}

/** DHCP: DISCOVER gets an OFFER and REQUEST an ACK of 10.0.2.15; `ack` says which. */
export function dhcpReply(d: Uint8Array): { reply: Uint8Array; ack: boolean } | string | null {
  if (d.length < 240 || d[0] !== 1 || d[236] !== 99 || d[237] !== 130 || d[238] !== 83 || d[239] !== 99)
    return 'malformed DHCP';
  let type = 0;
  for (let i = 240; i < d.length;) {
    const code = d[i];
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    if (i + 1 >= d.length || i + 2 + d[i + 1] > d.length) return 'malformed DHCP option';
    if (code === 53 && d[i + 1] >= 1) type = d[i + 2];
    i += 2 + d[i + 1];
  }
  const reply = type === 1 ? 2 : type === 3 ? 5 : 0; // DISCOVER → OFFER, REQUEST → ACK
  if (!reply) return null;
  const r = new Uint8Array(300);
  r[0] = 2; // BOOTREPLY
  r[1] = 1;
  r[2] = 6;
  r.set(d.subarray(4, 8), 4); // xid
  new DataView(r.buffer).setUint32(16, GUEST); // yiaddr
  new DataView(r.buffer).setUint32(20, GATEWAY); // siaddr
  r.set(d.subarray(28, 44), 28); // chaddr
  r.set([99, 130, 83, 99], 236);
  const ip4 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  const opts = [
    [53, 1, reply],
    [54, 4, ...ip4(GATEWAY)],
    [51, 4, 0, 1, 0x51, 0x80], // lease: 86400 s
    [1, 4, 255, 255, 255, 0],
    [3, 4, ...ip4(GATEWAY)],
    [6, 4, ...ip4(DNS)],
    [255],
  ].flat();
  r.set(opts, 240);
  return { reply: r, ack: reply === 5 };
}

/**
 * DNS: `host.vdesk` and `gateway` resolve to the gateway, every other name is NXDOMAIN (there is no
 * outside network). Returns the response message or why the query was dropped.
 */
export function dnsReply(q: Uint8Array): Uint8Array | string {
  if (q.length < 17 || q.length > 512 || (q[2] & 0x80) !== 0) return 'malformed DNS query';
  const qd = (q[4] << 8) | q[5];
  if (qd !== 1) return 'DNS query without exactly one question';
  const labels: string[] = [];
  let i = 12;
  while (i < q.length && q[i] !== 0) {
    const n = q[i];
    if (n > 63 || i + 1 + n > q.length) return 'malformed DNS name';
    labels.push(String.fromCharCode(...q.subarray(i + 1, i + 1 + n)).toLowerCase());
    i += 1 + n;
  }
  if (i + 5 > q.length) return 'truncated DNS question';
  const qtype = (q[i + 1] << 8) | q[i + 2];
  const end = i + 5;
  const name = labels.join('.');
  const known = name === 'host.vdesk' || name === 'gateway';
  const answer = known && qtype === 1;
  const r = new Uint8Array(end + (answer ? 16 : 0));
  r.set(q.subarray(0, end));
  r[2] = 0x84 | (q[2] & 1); // response, authoritative, RD copied
  r[3] = known ? 0x80 : 0x83; // RA; NXDOMAIN for names we do not know
  r[6] = 0;
  r[7] = answer ? 1 : 0;
  r[8] = r[9] = r[10] = r[11] = 0;
  if (answer) {
    r.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4], end);
    new DataView(r.buffer).setUint32(end + 12, GATEWAY);
  }
  return r;
}
