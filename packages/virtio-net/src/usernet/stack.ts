/**
 * A user-mode network for one guest, like QEMU's slirp: the guest sees a LAN 10.0.2.0/24 with a gateway
 * (10.0.2.2) that answers ARP, ping, DHCP (it leases 10.0.2.15) and DNS (10.0.2.3: `host.vdesk` and
 * `gateway` resolve to the gateway, every other name is NXDOMAIN — there is no outside network). TCP and
 * UDP to the gateway's address reach the host's loopback (127.0.0.1) through a {@link HostSockets}
 * provider, so this file stays free of Node and runs in a browser with another provider.
 *
 * Hand-written, because no usable TCP/IP stack for JavaScript is available from the npm registry this
 * project builds from: the maintained candidate (tcpip.js, gVisor's netstack in WASM) is not served there
 * (404), and what is (e.g. ip-packet) only encodes packets. The TCP here is only what a client in the guest
 * needs: the handshake, in-order data both ways within the guest's window, retransmission on timeout, FIN
 * and RST.
 */
import type { Logger } from '@virtio-desktop/virtio-core';
import type { NetBackend } from '../backend.js';
import {
  EtherType,
  IpProto,
  Tcp,
  buildArpReply,
  buildEth,
  buildIp,
  buildTcp,
  buildUdp,
  ipNum,
  parseArp,
  parseEth,
  parseIp,
  parseTcp,
  parseUdp,
  type Ip,
  type TcpSeg,
} from './packets.js';

export const NET = ipNum('10.0.2.0');
export const GATEWAY = ipNum('10.0.2.2');
export const DNS = ipNum('10.0.2.3');
export const GUEST = ipNum('10.0.2.15');
export const GATEWAY_MAC = Uint8Array.from([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
const BROADCAST_MAC = new Uint8Array(6).fill(0xff);
const MSS = 1460;
const MAX_CONNS = 256;
/** Host bytes buffered per connection before we stop reading the host socket. */
const SEND_BUFFER = 256 * 1024;
/** Retransmission timeout. The link is a memory queue that loses nothing unless the guest's queue
 * overflows; a slow guest must not be mistaken for a lossy one, so this errs long. */
const RTO_MS = 2000;

export interface HostTcpHandlers {
  onConnect(): void;
  onData(b: Uint8Array): void;
  onEnd(): void;
  onError(message: string): void;
}
export interface HostTcp {
  write(b: Uint8Array): void;
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}
export interface HostUdp {
  send(port: number, data: Uint8Array): void;
  close(): void;
}
/** How the stack reaches the host's loopback. */
export interface HostSockets {
  tcpConnect(port: number, h: HostTcpHandlers): HostTcp;
  udpOpen(onMessage: (fromPort: number, data: Uint8Array) => void): HostUdp;
}

interface Conn {
  key: string;
  gport: number;
  hport: number;
  state: 'connecting' | 'established' | 'closing';
  /** Next byte we expect from the guest. */
  rcvNxt: number;
  /** Our initial sequence number (the SYN's), and whether the guest has acknowledged the SYN. */
  isn: number;
  synAcked: boolean;
  /** Sequence number of sendBuf's first byte (everything before it is acknowledged), and of the next
   * segment to send. */
  base: number;
  sndNxt: number;
  /** Sequence number of our FIN once sent, and whether the guest acknowledged it. */
  finSeq: number;
  finAcked: boolean;
  /** Host bytes not yet acknowledged by the guest. */
  sendBuf: Uint8Array[];
  sendBytes: number;
  window: number;
  mss: number;
  hostEnded: boolean;
  finSent: boolean;
  guestFin: boolean;
  paused: boolean;
  lastSend: number;
  /** Bytes past base ever sent: after going back to resend, ACKs up to here are still valid. */
  sentAhead: number;
  sock: HostTcp | null;
}

export class UserNet implements NetBackend {
  private deliver: ((f: Uint8Array) => void) | null = null;
  private guestMac: Uint8Array | null = null;
  private readonly conns = new Map<string, Conn>();
  private readonly udp = new Map<number, HostUdp>();
  private timer: ReturnType<typeof setInterval> | null = null;
  readonly stats = { dropped: 0, tcpConnections: 0, dhcpLeases: 0, timeouts: 0 };

  constructor(
    private readonly host: HostSockets,
    private readonly log: Logger,
  ) {}

  attach(deliver: (frame: Uint8Array) => void): void {
    this.deliver = deliver;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.conns.values()) c.sock?.destroy();
    this.conns.clear();
    for (const u of this.udp.values()) u.close();
    this.udp.clear();
    this.deliver = null;
  }

  send(frame: Uint8Array): void {
    const e = parseEth(frame);
    if (!e) return this.drop('runt frame');
    this.guestMac = e.src.slice();
    if (e.type === EtherType.Arp) return this.arp(e.payload);
    if (e.type !== EtherType.Ipv4) return; // IPv6 and the rest: nobody here speaks it
    const ip = parseIp(e.payload);
    if (!ip) return this.drop('malformed IPv4 packet');
    if (ip.proto === IpProto.Udp) return this.onUdp(ip);
    if (ip.dst !== GATEWAY && ip.dst !== DNS) return; // no route beyond the host
    if (ip.proto === IpProto.Icmp) return this.icmp(ip);
    if (ip.proto === IpProto.Tcp) return this.onTcp(ip);
  }

  private drop(why: string): void {
    this.stats.dropped++;
    this.log.debug(`usernet: dropped: ${why}`);
  }

  private out(dstMac: Uint8Array, ipPacket: Uint8Array): void {
    this.deliver?.(buildEth(dstMac, GATEWAY_MAC, EtherType.Ipv4, ipPacket));
  }

  private toGuest(ipPacket: Uint8Array): void {
    if (this.guestMac) this.out(this.guestMac, ipPacket);
  }

  private arp(p: Uint8Array): void {
    const a = parseArp(p);
    if (!a) return this.drop('malformed ARP');
    // Everything on the LAN but the guest itself is us.
    if (a.op !== 1 || (a.tpa & 0xffffff00) !== NET || a.tpa === GUEST || a.tpa === a.spa) return;
    this.deliver?.(
      buildEth(a.sha, GATEWAY_MAC, EtherType.Arp, buildArpReply(GATEWAY_MAC, a.tpa, a.sha, a.spa)),
    );
  }

  private icmp(ip: Ip): void {
    const p = ip.payload;
    if (p.length < 8 || p[0] !== 8) return; // echo request only
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
    this.toGuest(buildIp(ip.dst, ip.src, IpProto.Icmp, r));
  }

  // ------------------------------------------------------------------ UDP: DHCP, DNS, forwarding

  private onUdp(ip: Ip): void {
    const u = parseUdp(ip.payload);
    if (!u) return this.drop('malformed UDP');
    if (u.dport === 67) return this.dhcp(u.data);
    if (ip.dst === DNS && u.dport === 53) return this.dns(ip, u.sport, u.data);
    if (ip.dst !== GATEWAY) return;
    let sock = this.udp.get(u.sport);
    if (!sock) {
      if (this.udp.size >= MAX_CONNS) return this.drop('too many UDP flows');
      const gport = u.sport;
      sock = this.host.udpOpen((from, data) =>
        this.toGuest(buildUdp(GATEWAY, GUEST, from, gport, data.subarray(0, 65000))),
      );
      this.udp.set(u.sport, sock);
    }
    sock.send(u.dport, u.data.slice());
  }

  private dhcp(d: Uint8Array): void {
    if (d.length < 240 || d[0] !== 1 || d[236] !== 99 || d[237] !== 130 || d[238] !== 83 || d[239] !== 99)
      return this.drop('malformed DHCP');
    let type = 0;
    for (let i = 240; i < d.length;) {
      const code = d[i];
      if (code === 255) break;
      if (code === 0) {
        i++;
        continue;
      }
      if (i + 1 >= d.length || i + 2 + d[i + 1] > d.length) return this.drop('malformed DHCP option');
      if (code === 53 && d[i + 1] >= 1) type = d[i + 2];
      i += 2 + d[i + 1];
    }
    const reply = type === 1 ? 2 : type === 3 ? 5 : 0; // DISCOVER → OFFER, REQUEST → ACK
    if (!reply) return;
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
    if (reply === 5) this.stats.dhcpLeases++;
    this.deliver?.(
      buildEth(BROADCAST_MAC, GATEWAY_MAC, EtherType.Ipv4, buildUdp(GATEWAY, 0xffffffff, 67, 68, r)),
    );
  }

  private dns(ip: Ip, sport: number, q: Uint8Array): void {
    if (q.length < 17 || q.length > 512 || (q[2] & 0x80) !== 0) return this.drop('malformed DNS query');
    const qd = (q[4] << 8) | q[5];
    if (qd !== 1) return this.drop('DNS query without exactly one question');
    const labels: string[] = [];
    let i = 12;
    while (i < q.length && q[i] !== 0) {
      const n = q[i];
      if (n > 63 || i + 1 + n > q.length) return this.drop('malformed DNS name');
      labels.push(String.fromCharCode(...q.subarray(i + 1, i + 1 + n)).toLowerCase());
      i += 1 + n;
    }
    if (i + 5 > q.length) return this.drop('truncated DNS question');
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
    this.toGuest(buildUdp(DNS, ip.src, 53, sport, r));
  }

  // ------------------------------------------------------------------ TCP to the host's loopback

  private seg(c: Conn, flags: number, data?: Uint8Array, seq = c.sndNxt): void {
    // Only what may need sending again restarts the retransmission clock, not pure ACKs.
    if (flags & (Tcp.Syn | Tcp.Fin) || data?.length) c.lastSend = Date.now();
    this.toGuest(
      buildTcp(
        GATEWAY,
        GUEST,
        {
          sport: c.hport,
          dport: c.gport,
          seq,
          ack: c.rcvNxt,
          flags,
          window: 65535,
          mss: flags & Tcp.Syn ? MSS : undefined,
        },
        data,
      ),
    );
  }

  private rst(ip: Ip, t: TcpSeg): void {
    const ack = (t.seq + t.data.length + (t.flags & Tcp.Syn ? 1 : 0) + (t.flags & Tcp.Fin ? 1 : 0)) >>> 0;
    this.toGuest(
      buildTcp(ip.dst, ip.src, {
        sport: t.dport,
        dport: t.sport,
        seq: t.flags & Tcp.Ack ? t.ack : 0,
        ack,
        flags: Tcp.Rst | Tcp.Ack,
        window: 0,
      }),
    );
  }

  private onTcp(ip: Ip): void {
    const t = parseTcp(ip.payload);
    if (!t) return this.drop('malformed TCP');
    const key = `${t.sport}:${t.dport}`;
    const c = this.conns.get(key);
    if (!c) {
      if (t.flags & Tcp.Rst) return;
      if ((t.flags & (Tcp.Syn | Tcp.Ack)) !== Tcp.Syn || ip.dst !== GATEWAY) return this.rst(ip, t);
      if (this.conns.size >= MAX_CONNS) return this.rst(ip, t);
      return this.open(key, t);
    }
    if (t.flags & Tcp.Rst) return this.kill(c);
    if (t.flags & Tcp.Syn) return; // a retransmitted SYN: our SYN-ACK will be resent by the timer
    if (t.flags & Tcp.Ack) this.acked(c, t);
    if (t.data.length) {
      if (t.seq === c.rcvNxt && !c.guestFin) {
        c.rcvNxt = (c.rcvNxt + t.data.length) >>> 0;
        c.sock?.write(t.data.slice());
      }
      this.seg(c, Tcp.Ack); // in order or not, say what we expect next
    }
    if (t.flags & Tcp.Fin && (t.seq + t.data.length) >>> 0 === c.rcvNxt && !c.guestFin) {
      c.guestFin = true;
      c.rcvNxt = (c.rcvNxt + 1) >>> 0;
      c.sock?.end();
      this.seg(c, Tcp.Ack);
    }
    this.maybeDone(c);
  }

  private open(key: string, t: TcpSeg): void {
    const isn = (Math.random() * 0x100000000) >>> 0;
    const c: Conn = {
      key,
      gport: t.sport,
      hport: t.dport,
      state: 'connecting',
      rcvNxt: (t.seq + 1) >>> 0,
      isn,
      synAcked: false,
      base: (isn + 1) >>> 0,
      sndNxt: (isn + 1) >>> 0,
      finSeq: 0,
      finAcked: false,
      sendBuf: [],
      sendBytes: 0,
      window: t.window,
      mss: Math.min(MSS, Math.max(64, t.mss)),
      hostEnded: false,
      finSent: false,
      guestFin: false,
      paused: false,
      lastSend: Date.now(),
      sentAhead: 0,
      sock: null,
    };
    this.conns.set(key, c);
    this.stats.tcpConnections++;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), RTO_MS / 2);
      // The retransmission clock alone must not keep a Node host alive.
      (this.timer as { unref?: () => void }).unref?.();
    }
    c.sock = this.host.tcpConnect(t.dport, {
      onConnect: () => {
        c.state = 'established';
        this.seg(c, Tcp.Syn | Tcp.Ack, undefined, c.isn);
      },
      onData: (b) => {
        c.sendBuf.push(b);
        c.sendBytes += b.length;
        if (c.sendBytes > SEND_BUFFER && !c.paused) {
          c.paused = true;
          c.sock?.pause();
        }
        this.pump(c);
      },
      onEnd: () => {
        c.hostEnded = true;
        this.pump(c);
      },
      onError: (m) => {
        this.log.debug(`usernet: tcp to 127.0.0.1:${c.hport}: ${m}`);
        if (c.state === 'connecting') {
          this.toGuest(
            buildTcp(GATEWAY, GUEST, {
              sport: c.hport,
              dport: c.gport,
              seq: 0,
              ack: c.rcvNxt,
              flags: Tcp.Rst | Tcp.Ack,
              window: 0,
            }),
          );
          this.conns.delete(c.key);
          c.sock = null;
        } else this.kill(c, true);
      },
    });
  }

  private acked(c: Conn, t: TcpSeg): void {
    c.window = t.window;
    const ack = t.ack >>> 0;
    if (!c.synAcked) {
      if (c.state !== 'established' || ack !== c.base) return;
      c.synAcked = true;
    }
    const inFlight = (c.sndNxt - c.base) >>> 0; // data, plus our FIN once sent
    const n = (ack - c.base) >>> 0;
    if (n > Math.max(inFlight, c.sentAhead)) return this.pump(c); // acknowledges what we never sent: ignore
    if (n > inFlight) c.sndNxt = ack; // we went back, but the guest had it all along
    // No fast retransmit: on this link a segment is only lost when the guest's queue overflows, and
    // duplicate ACKs mostly echo our own resends; acting on them made a storm of go-backs.
    if (n === 0) return this.pump(c);
    const data = Math.min(n, c.sendBytes);
    let left = data;
    while (left > 0) {
      const b = c.sendBuf[0];
      if (b.length <= left) {
        left -= b.length;
        c.sendBuf.shift();
      } else {
        c.sendBuf[0] = b.subarray(left);
        left = 0;
      }
    }
    c.sendBytes -= data;
    c.base = (c.base + data) >>> 0;
    c.sentAhead = Math.max(0, c.sentAhead - n);
    if (c.finSent && ack === (c.finSeq + 1) >>> 0) c.finAcked = true;
    if (c.paused && c.sendBytes < SEND_BUFFER / 2) {
      c.paused = false;
      c.sock?.resume();
    }
    this.pump(c);
  }

  /** Send what the guest's window allows, from sndNxt; then our FIN once the host has closed. */
  private pump(c: Conn): void {
    if (!c.synAcked || !this.deliver) return;
    let offset = Math.min((c.sndNxt - c.base) >>> 0, c.sendBytes);
    // Never past the guest's window: it drops what does not fit, and we would wait for the timeout. A
    // zero window reopens with the guest's window update.
    const limit = c.window;
    while (!c.finSent && offset < c.sendBytes && offset < limit) {
      const n = Math.min(c.mss, c.sendBytes - offset, limit - offset);
      this.seg(c, Tcp.Ack | Tcp.Psh, this.slice(c, offset, n), (c.base + offset) >>> 0);
      offset += n;
      c.sndNxt = (c.base + offset) >>> 0;
      c.sentAhead = Math.max(c.sentAhead, offset);
    }
    if (c.hostEnded && !c.finSent && offset === c.sendBytes) {
      c.finSent = true;
      c.finSeq = (c.base + offset) >>> 0;
      this.seg(c, Tcp.Fin | Tcp.Ack, undefined, c.finSeq);
      c.sndNxt = (c.finSeq + 1) >>> 0;
      c.sentAhead = Math.max(c.sentAhead, offset + 1);
    }
    this.maybeDone(c);
  }

  private slice(c: Conn, offset: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    for (const b of c.sendBuf) {
      if (offset >= b.length) {
        offset -= b.length;
        continue;
      }
      const take = Math.min(b.length - offset, n - at);
      out.set(b.subarray(offset, offset + take), at);
      at += take;
      offset = 0;
      if (at === n) break;
    }
    return out;
  }

  private tick(): void {
    const now = Date.now();
    for (const c of this.conns.values()) {
      if (now - c.lastSend < RTO_MS) continue;
      if (c.state === 'established' && !c.synAcked) {
        this.seg(c, Tcp.Syn | Tcp.Ack, undefined, c.isn); // our SYN-ACK was lost
        continue;
      }
      if (c.synAcked && (c.sndNxt !== c.base || (c.finSent && !c.finAcked))) {
        this.stats.timeouts++;
        // Go back to the oldest unacknowledged byte (and the FIN after it).
        c.sndNxt = c.base;
        c.finSent = false;
        this.pump(c);
      }
    }
    if (this.conns.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private maybeDone(c: Conn): void {
    if (c.guestFin && c.finSent && c.finAcked) {
      this.conns.delete(c.key);
      c.sock?.destroy();
      c.sock = null;
    }
  }

  private kill(c: Conn, tellGuest = false): void {
    if (tellGuest) this.seg(c, Tcp.Rst | Tcp.Ack);
    this.conns.delete(c.key);
    c.sock?.destroy();
    c.sock = null;
  }
}
