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

/** A query's single question: the name (lowercase, dotted), its type and where the question ends. */
export interface DnsQuestion {
  name: string;
  qtype: number;
  end: number;
}

export const DnsType = { A: 1, AAAA: 28 } as const;
const MAX_ANSWERS = 8;

/** Parse a DNS query with exactly one question; a string says why it was dropped. */
export function parseDnsQuery(q: Uint8Array): DnsQuestion | string {
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
  return { name: labels.join('.'), qtype: (q[i + 1] << 8) | q[i + 2], end: i + 5 };
}

/**
 * The response to `q`: NXDOMAIN when `addrs` is null, else NOERROR with `addrs` as A records when the
 * question asks for A (other types get an empty answer: the name exists, with no such record).
 */
export function dnsResponse(
  q: Uint8Array,
  question: DnsQuestion,
  addrs: readonly number[] | null,
): Uint8Array {
  const answers = addrs && question.qtype === DnsType.A ? addrs.slice(0, MAX_ANSWERS) : [];
  const end = question.end;
  const r = new Uint8Array(end + 16 * answers.length);
  r.set(q.subarray(0, end));
  r[2] = 0x84 | (q[2] & 1); // response, authoritative, RD copied
  r[3] = addrs ? 0x80 : 0x83; // RA; NXDOMAIN for names nobody knows
  r[6] = 0;
  r[7] = answers.length;
  r[8] = r[9] = r[10] = r[11] = 0;
  const dv = new DataView(r.buffer);
  answers.forEach((a, k) => {
    r.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4], end + 16 * k);
    dv.setUint32(end + 16 * k + 12, a);
  });
  return r;
}

/** The gateway's own names. */
export function localName(name: string): number | null {
  return name === 'host.vdesk' || name === 'gateway' ? GATEWAY : null;
}

/**
 * Names worth asking the host's resolver about: letters, digits, hyphens, underscores and dots, at most
 * 253 characters (single labels such as "localhost" too: the host's hosts file may know them).
 */
export function lookupable(name: string): boolean {
  return name.length > 0 && name.length <= 253 && /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(name);
}

/**
 * DNS of the gateway's own names only: `host.vdesk` and `gateway` resolve to the gateway, every other
 * name is NXDOMAIN. Returns the response message or why the query was dropped.
 */
export function dnsReply(q: Uint8Array): Uint8Array | string {
  const question = parseDnsQuery(q);
  if (typeof question === 'string') return question;
  const a = localName(question.name);
  return dnsResponse(q, question, a === null ? null : [a]);
}
