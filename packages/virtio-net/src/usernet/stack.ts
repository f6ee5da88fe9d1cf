/**
 * A user-mode network for one guest, like QEMU's slirp: the guest sees a LAN 10.0.2.0/24 with a gateway
 * (10.0.2.2) that answers ARP, ping, DHCP (it leases 10.0.2.15) and DNS (10.0.2.3: `host.vdesk` and
 * `gateway` resolve to the gateway; in NAT mode other names go to the host's resolver). TCP and UDP to
 * the gateway's address reach the host's loopback (127.0.0.1); in NAT mode, TCP and UDP to any other
 * address are opened as host sockets to that address. Port forwards carry connections to a host port
 * into the guest. All through a {@link HostSockets} provider, so this file stays free of Node and runs in
 * a browser with another provider.
 *
 * Hand-written, because no usable TCP/IP stack for JavaScript is available from the npm registry this
 * project builds from: the maintained candidate (tcpip.js, gVisor's netstack in WASM) is not served there
 * (404), and what is (e.g. ip-packet) only encodes packets. The TCP here is only what a client in the guest
 * needs: the handshake, in-order data both ways within both windows, retransmission on timeout, FIN and
 * RST. The guest is untrusted and so is the host peer: every table is bounded, every state times out,
 * and the window the guest sees is what the host socket can still take.
 */
import type { Logger } from '@virtio-desktop/virtio-core';
import type { NetBackend } from '../backend.js';
import type { HostListener, HostSockets, HostTcp, HostTcpHandlers, HostUdp } from './host.js';
import { HostResolver } from './dns.js';
import {
  EtherType,
  IpProto,
  Tcp,
  buildArpReply,
  buildEth,
  buildIp,
  buildTcp,
  buildUdp,
  parseArp,
  parseEth,
  parseIp,
  parseTcp,
  parseUdp,
  ipStr,
  type Ip,
  type TcpSeg,
} from './packets.js';
import {
  DNS,
  GATEWAY,
  GUEST,
  NET,
  dhcpReply,
  dnsResponse,
  icmpEchoReply,
  localName,
  lookupable,
  parseDnsQuery,
} from './services.js';
import { UdpFlows, UdpForwards } from './udp.js';
import {
  MSS,
  RECV_WINDOW,
  RTO_MS,
  SEND_BUFFER,
  sliceSendBuf,
  type Conn,
  type PortForward,
  type UserNetOptions,
} from './conn.js';

export { DNS, GATEWAY, GUEST, NET } from './services.js';
export { MSS, RECV_WINDOW, type PortForward, type UserNetMode, type UserNetOptions } from './conn.js';
export type { HostListener, HostSockets, HostTcp, HostTcpHandlers, HostUdp } from './host.js';

export const GATEWAY_MAC: Uint8Array = Uint8Array.from([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
const BROADCAST_MAC = new Uint8Array(6).fill(0xff);
/** At most one log line per this long for each limit a guest runs into. */
const LIMIT_LOG_MS = 10_000;

export class UserNet implements NetBackend {
  private deliver: ((f: Uint8Array) => void) | null = null;
  private guestMac: Uint8Array | null = null;
  private readonly conns = new Map<string, Conn>();
  private readonly udp: UdpFlows;
  private readonly udpForwards: UdpForwards;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly limitLogged = new Map<string, number>();
  private readonly o: Required<Omit<UserNetOptions, 'forwards'>>;
  private readonly resolver: HostResolver | null;
  private readonly listeners: HostListener[] = [];
  private nextPort = 0;
  readonly stats = {
    dropped: 0,
    tcpConnections: 0,
    dhcpLeases: 0,
    timeouts: 0,
    /** Connections closed by the half-open, idle or retransmission limits. */
    tcpExpired: 0,
    /** Segments dropped for carrying more than the MSS. */
    oversized: 0,
    /** Times a guest ran into a table limit. */
    limitHits: 0,
    /** Names asked of the host's resolver. */
    lookups: 0,
    /** Connections forwarded into the guest. */
    forwarded: 0,
  };

  constructor(
    private readonly host: HostSockets,
    private readonly log: Logger,
    opts: UserNetOptions = {},
  ) {
    this.o = {
      mode: opts.mode ?? 'nat',
      maxLookups: opts.maxLookups ?? 32,
      maxTcp: opts.maxTcp ?? 256,
      maxUdp: opts.maxUdp ?? 256,
      halfOpenMs: opts.halfOpenMs ?? 15_000,
      tcpIdleMs: opts.tcpIdleMs ?? 3_600_000,
      udpIdleMs: opts.udpIdleMs ?? 60_000,
      maxRetransmits: opts.maxRetransmits ?? 8,
    };
    this.udp = new UdpFlows(
      host,
      this.o.maxUdp,
      this.o.udpIdleMs,
      (gport, from, data, fromHost) => {
        const src = this.guestSide(fromHost);
        if (src !== null) this.toGuest(buildUdp(src, GUEST, from, gport, data.subarray(0, 65000)));
      },
      () => this.limit('udp', `${this.o.maxUdp} UDP flows open; closing the least recently used`),
    );
    this.udpForwards = new UdpForwards(
      this.o.maxUdp,
      this.o.udpIdleMs,
      (gwPort, guestPort, data) => {
        this.stats.forwarded++;
        this.toGuest(buildUdp(GATEWAY, GUEST, gwPort, guestPort, data.subarray(0, 65000)));
      },
      () => this.limit('udp', `${this.o.maxUdp} UDP forward clients; forgetting the least recently used`),
    );
    this.resolver =
      this.o.mode === 'nat' && host.resolve
        ? new HostResolver((n) => host.resolve!(n), this.o.maxLookups)
        : null;
    for (const f of opts.forwards ?? []) this.listen(f);
  }

  /**
   * Where a guest packet to `dst` goes on the host: the loopback for the gateway, the address itself in
   * NAT mode, or nowhere (null): the rest of the LAN, and what is not a unicast address.
   */
  private hostFor(dst: number): string | null {
    if (dst === GATEWAY) return '127.0.0.1';
    if (this.o.mode !== 'nat') return null;
    const top = dst >>> 24;
    if ((dst & 0xffffff00) === NET || top === 0 || top === 127 || top >= 224) return null;
    return ipStr(dst);
  }

  /** A host address as the guest sees it (the loopback is the gateway); null for what it cannot see. */
  private guestSide(host: string | undefined): number | null {
    if (host === undefined || host.startsWith('127.')) return GATEWAY;
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
    if (!m || this.o.mode !== 'nat') return null;
    return ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
  }

  /** Open TCP connections and UDP flows, for tests and the inventory. */
  get openFlows(): { tcp: number; udp: number } {
    return { tcp: this.conns.size, udp: this.udp.size };
  }

  attach(deliver: (frame: Uint8Array) => void): void {
    this.deliver = deliver;
  }

  /** Forget every connection and flow (the device or the machine was reset): the guest starts afresh. */
  reset(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.conns.values()) c.sock?.destroy();
    this.conns.clear();
    this.udp.closeAll();
    this.udpForwards.clear();
    this.guestMac = null;
  }

  close(): void {
    this.reset();
    for (const l of this.listeners.splice(0)) l.close();
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
    if (ip.proto === IpProto.Tcp) return this.onTcp(ip);
    // ICMP: only the gateway and the DNS answer (a host program cannot send ICMP without privileges).
    if (ip.proto === IpProto.Icmp && (ip.dst === GATEWAY || ip.dst === DNS)) {
      const r = icmpEchoReply(ip.payload);
      if (r) this.toGuest(buildIp(ip.dst, ip.src, IpProto.Icmp, r));
    }
  }

  private drop(why: string): void {
    this.stats.dropped++;
    this.log.debug(`usernet: dropped: ${why}`);
  }

  /** A guest ran into a per-guest limit: one warning per kind per LIMIT_LOG_MS. */
  private limit(kind: string, msg: string): void {
    this.stats.limitHits++;
    const now = Date.now();
    if (now - (this.limitLogged.get(kind) ?? -Infinity) < LIMIT_LOG_MS) return;
    this.limitLogged.set(kind, now);
    this.log.warn(`usernet: limit reached: ${msg}`);
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

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), RTO_MS / 2);
    // The clock alone must not keep a Node host alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  // ------------------------------------------------------------------ UDP: DHCP, DNS, forwarding

  private onUdp(ip: Ip): void {
    const u = parseUdp(ip.payload);
    if (!u) return this.drop('malformed UDP');
    if (u.dport === 67) {
      const r = dhcpReply(u.data);
      if (typeof r === 'string') return this.drop(r);
      if (!r) return;
      if (r.ack) this.stats.dhcpLeases++;
      this.deliver?.(
        buildEth(BROADCAST_MAC, GATEWAY_MAC, EtherType.Ipv4, buildUdp(GATEWAY, 0xffffffff, 67, 68, r.reply)),
      );
      return;
    }
    if (ip.dst === DNS && u.dport === 53) return this.dns(u.data.slice(), u.sport);
    if (ip.dst === GATEWAY && this.udpForwards.fromGuest(u.sport, u.dport, u.data.slice(), Date.now()))
      return;
    const host = this.hostFor(ip.dst);
    if (host === null) return;
    this.udp.send(u.sport, u.dport, u.data.slice(), Date.now(), host);
    this.ensureTimer();
  }

  /** The gateway's names at once; others through the host's resolver (NAT), else NXDOMAIN. */
  private dns(q: Uint8Array, sport: number): void {
    const question = parseDnsQuery(q);
    if (typeof question === 'string') return this.drop(question);
    const reply = (addrs: readonly number[] | null): void =>
      this.toGuest(buildUdp(DNS, GUEST, 53, sport, dnsResponse(q, question, addrs)));
    const own = localName(question.name);
    if (own !== null) return reply([own]);
    if (!this.resolver || !lookupable(question.name)) return reply(null);
    this.stats.lookups++;
    void this.resolver.lookup(question.name).then((r) => {
      if (r === 'busy') this.limit('dns', 'host DNS lookups busy or slow; dropping a query');
      else reply(r);
    });
  }

  // ------------------------------------------------------------------ TCP to the host's loopback

  private seg(c: Conn, flags: number, data?: Uint8Array, seq = c.sndNxt): void {
    // Only what may need sending again restarts the retransmission clock, not pure ACKs.
    if (flags & (Tcp.Syn | Tcp.Fin) || data?.length) c.lastSend = Date.now();
    c.advertised = this.recvWindow(c);
    this.toGuest(
      buildTcp(
        c.remote,
        GUEST,
        {
          sport: c.hport,
          dport: c.gport,
          seq,
          ack: c.rcvNxt,
          flags,
          window: c.advertised,
          mss: flags & Tcp.Syn ? MSS : undefined,
        },
        data,
      ),
    );
  }

  /** What is left of the receive window once the host socket's unsent bytes are counted. */
  private recvWindow(c: Conn): number {
    const buffered = c.sock?.buffered ? c.sock.buffered() : c.hostQueued;
    return Math.max(0, Math.min(RECV_WINDOW, RECV_WINDOW - buffered));
  }

  /** Guest bytes to the host socket, counted against the window until the socket takes them. */
  private hostWrite(c: Conn, b: Uint8Array): void {
    const room = c.sock?.write(b);
    if (c.sock && !c.sock.buffered) c.hostQueued = room === false ? c.hostQueued + b.length : 0;
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
    const key = `${t.sport}:${ip.dst}:${t.dport}`;
    const c = this.conns.get(key);
    if (!c) {
      const top = ip.dst >>> 24;
      if (t.flags & Tcp.Rst || top >= 224 || top === 0) return; // nobody answers for those addresses
      const host = this.hostFor(ip.dst);
      if ((t.flags & (Tcp.Syn | Tcp.Ack)) !== Tcp.Syn || host === null) return this.rst(ip, t);
      if (this.conns.size >= this.o.maxTcp) {
        this.limit('tcp', `${this.o.maxTcp} TCP connections open; refusing new ones with RST`);
        return this.rst(ip, t);
      }
      return this.open(key, t, ip.dst, host);
    }
    if (t.flags & Tcp.Rst) return this.kill(c);
    if (c.state === 'syn-sent') return this.synAck(c, t);
    if (t.flags & Tcp.Syn) return; // a retransmitted SYN: our SYN-ACK will be resent by the timer
    c.lastActivity = Date.now();
    if (t.flags & Tcp.Ack) this.acked(c, t);
    if (t.data.length > MSS) {
      // We announced MSS 1460: a bigger segment is a hostile or broken guest. Say what we still expect.
      this.stats.oversized++;
      this.drop(`TCP segment of ${t.data.length} bytes above the MSS`);
      return this.seg(c, Tcp.Ack);
    }
    if (t.data.length) {
      if (t.seq === c.rcvNxt && !c.guestFin) {
        // Only what fits the window we offered: the rest the guest sends again once the host has read.
        const n = Math.min(t.data.length, this.recvWindow(c));
        if (n > 0) {
          c.rcvNxt = (c.rcvNxt + n) >>> 0;
          this.hostWrite(c, t.data.slice(0, n));
        }
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

  private open(key: string, t: TcpSeg, remote: number, host: string): void {
    const c = this.conn(key, t.sport, remote, t.dport, `${host}:${t.dport}`, 'connecting');
    c.rcvNxt = (t.seq + 1) >>> 0;
    c.window = t.window;
    c.mss = Math.min(MSS, Math.max(64, t.mss));
    c.sock = this.host.tcpConnect(t.dport, this.handlers(c), host);
  }

  /** A connection's state before its handshake; entered in the table. */
  private conn(
    key: string,
    gport: number,
    remote: number,
    hport: number,
    label: string,
    state: Conn['state'],
  ): Conn {
    const isn = (Math.random() * 0x100000000) >>> 0;
    const now = Date.now();
    const c: Conn = {
      key,
      gport,
      remote,
      hport,
      label,
      state,
      rcvNxt: 0,
      isn,
      synAcked: false,
      base: (isn + 1) >>> 0,
      sndNxt: (isn + 1) >>> 0,
      finSeq: 0,
      finAcked: false,
      sendBuf: [],
      sendBytes: 0,
      window: 0,
      mss: MSS,
      hostEnded: false,
      finSent: false,
      guestFin: false,
      paused: false,
      lastSend: Date.now(),
      sentAhead: 0,
      sock: null,
      opened: now,
      lastActivity: now,
      retries: 0,
      hostQueued: 0,
      advertised: RECV_WINDOW,
    };
    this.conns.set(key, c);
    this.stats.tcpConnections++;
    this.ensureTimer();
    return c;
  }

  /** The host socket's events for connection `c`. */
  private handlers(c: Conn): HostTcpHandlers {
    // Callbacks of a socket whose connection was closed or reset meanwhile are ignored.
    const live = (): boolean => this.conns.get(c.key) === c;
    return {
      onConnect: () => {
        if (!live()) return;
        c.state = 'established';
        this.seg(c, Tcp.Syn | Tcp.Ack, undefined, c.isn);
      },
      onDrain: () => {
        if (!live()) return;
        c.hostQueued = 0;
        // The guest may be waiting on a small or zero window: tell it the window opened.
        if (c.synAcked && this.recvWindow(c) - c.advertised >= MSS) this.seg(c, Tcp.Ack);
      },
      onData: (b) => {
        if (!live()) return;
        c.lastActivity = Date.now();
        c.sendBuf.push(b);
        c.sendBytes += b.length;
        if (c.sendBytes > SEND_BUFFER && !c.paused) {
          c.paused = true;
          c.sock?.pause();
        }
        this.pump(c);
      },
      onEnd: () => {
        if (!live()) return;
        c.hostEnded = true;
        this.pump(c);
      },
      onError: (m) => {
        if (!live()) return;
        this.log.debug(`usernet: tcp ${c.label}: ${m}`);
        if (c.state === 'connecting') {
          this.toGuest(
            buildTcp(c.remote, GUEST, {
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
        } else this.kill(c, c.state === 'established');
      },
    };
  }

  // ------------------------------------------------------------------ port forwards into the guest

  private listen(f: PortForward): void {
    const bind = f.bind ?? '127.0.0.1';
    const warn = (m: string): void =>
      this.log.warn(`usernet: forward ${f.proto} ${bind}:${f.hostPort} -> guest port ${f.guestPort}: ${m}`);
    if (f.proto === 'udp') {
      if (!this.host.udpListen) return warn('no host UDP listener');
      const l: HostUdp = this.host.udpListen(
        f.hostPort,
        bind,
        (port, data, host) => {
          // Datagrams before the guest has a link address have nowhere to go, as on a wire.
          if (!this.guestMac) return;
          this.udpForwards.fromHost(l, f.hostPort, f.guestPort, host, port, data.slice(), Date.now());
          this.ensureTimer();
        },
        warn,
      );
      this.listeners.push(l);
      return;
    }
    if (!this.host.tcpListen) {
      this.log.warn(`usernet: no host listener for the forward of port ${f.hostPort}`);
      return;
    }
    const l = this.host.tcpListen(
      f.hostPort,
      bind,
      (accept) => this.forwardIn(f.guestPort, accept, `${bind}:${f.hostPort}`),
      (m) => this.log.warn(`usernet: forward ${bind}:${f.hostPort} -> guest port ${f.guestPort}: ${m}`),
    );
    this.listeners.push(l);
  }

  /** A host connection to a forwarded port: open one to the guest from the gateway, as a client would. */
  private forwardIn(guestPort: number, accept: (h: HostTcpHandlers) => HostTcp, label: string): void {
    if (this.conns.size >= this.o.maxTcp || !this.guestMac) {
      if (this.guestMac) this.limit('tcp', `${this.o.maxTcp} TCP connections open; refusing a forward`);
      const s = accept({ onConnect() {}, onData() {}, onEnd() {}, onError() {} });
      s.destroy();
      return;
    }
    // An ephemeral port of the gateway's not in use towards this guest port.
    let port = 0;
    let key = '';
    do {
      port = 32768 + (this.nextPort++ % 28000);
      key = `${guestPort}:${GATEWAY}:${port}`;
    } while (this.conns.has(key));
    const c = this.conn(key, guestPort, GATEWAY, port, `forward ${label}`, 'syn-sent');
    this.stats.forwarded++;
    c.sock = accept(this.handlers(c));
    this.seg(c, Tcp.Syn, undefined, c.isn);
  }

  /** The guest's answer to our SYN: established (and the host socket may flow), or refused. */
  private synAck(c: Conn, t: TcpSeg): void {
    if ((t.flags & (Tcp.Syn | Tcp.Ack)) !== (Tcp.Syn | Tcp.Ack) || t.ack >>> 0 !== c.base) return;
    c.state = 'established';
    c.synAcked = true;
    c.rcvNxt = (t.seq + 1) >>> 0;
    c.window = t.window;
    c.mss = Math.min(MSS, Math.max(64, t.mss));
    c.lastActivity = Date.now();
    this.seg(c, Tcp.Ack);
    c.sock?.resume();
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
    c.retries = 0;
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
      this.seg(c, Tcp.Ack | Tcp.Psh, sliceSendBuf(c, offset, n), (c.base + offset) >>> 0);
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

  private tick(): void {
    const now = Date.now();
    for (const c of [...this.conns.values()]) {
      if (!c.synAcked) {
        // Half-open: the host never answered or the guest never acknowledged our SYN-ACK.
        if (now - c.opened >= this.o.halfOpenMs) {
          this.expire(c, 'handshake not completed');
          continue;
        }
        if (c.state === 'established' && now - c.lastSend >= RTO_MS)
          this.seg(c, Tcp.Syn | Tcp.Ack, undefined, c.isn); // our SYN-ACK was lost
        else if (c.state === 'syn-sent' && now - c.lastSend >= RTO_MS) this.seg(c, Tcp.Syn, undefined, c.isn);
        continue;
      }
      if (now - c.lastActivity >= this.o.tcpIdleMs) {
        this.expire(c, 'idle');
        continue;
      }
      if (now - c.lastSend < RTO_MS) continue;
      if (c.sndNxt !== c.base || (c.finSent && !c.finAcked)) {
        if (++c.retries > this.o.maxRetransmits) {
          this.expire(c, `no acknowledgement after ${this.o.maxRetransmits} retransmissions`);
          continue;
        }
        this.stats.timeouts++;
        // Go back to the oldest unacknowledged byte (and the FIN after it).
        c.sndNxt = c.base;
        c.finSent = false;
        this.pump(c);
      }
    }
    this.udp.expire(now);
    this.udpForwards.expire(now);
    if (this.conns.size === 0 && this.udp.size === 0 && this.udpForwards.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private expire(c: Conn, why: string): void {
    this.stats.tcpExpired++;
    this.log.debug(`usernet: tcp ${c.gport} <-> ${c.label} closed: ${why}`);
    this.kill(c, true);
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
