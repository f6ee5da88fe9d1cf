/**
 * UDP from the guest to the host: one host socket per guest source port (a "flow", to any address the
 * stack allows: a full-cone NAT), closed
 * after a quiet spell and, when the table is full, the least recently used one makes room, so ephemeral
 * ports (DNS, NTP clients) never lock the guest out.
 */
import type { HostSockets, HostUdp } from './host.js';

interface Flow {
  sock: HostUdp;
  lastUsed: number;
}

export class UdpFlows {
  /** Insertion order is use order: a used flow is moved to the end, so the first one is the oldest. */
  private readonly flows = new Map<number, Flow>();
  evicted = 0;
  expired = 0;

  constructor(
    private readonly host: HostSockets,
    private readonly max: number,
    private readonly idleMs: number,
    /** A host datagram for guest port `gport`, from `fromHost` (absent: the host's loopback). */
    private readonly toGuest: (gport: number, fromPort: number, data: Uint8Array, fromHost?: string) => void,
    /** The table was full and a flow was closed to make room. */
    private readonly onFull: () => void,
  ) {}

  get size(): number {
    return this.flows.size;
  }

  send(gport: number, dport: number, data: Uint8Array, now: number, host?: string): void {
    let f = this.flows.get(gport);
    if (f) this.flows.delete(gport);
    else {
      if (this.flows.size >= this.max) {
        const [oldPort, old] = this.flows.entries().next().value as [number, Flow];
        old.sock.close();
        this.flows.delete(oldPort);
        this.evicted++;
        this.onFull();
      }
      const flow: Flow = {
        lastUsed: now,
        sock: this.host.udpOpen((from, d, fromHost) => {
          // A reply keeps the flow alive, but only if it is still the one in the table.
          if (this.flows.get(gport) !== flow) return;
          flow.lastUsed = Date.now();
          this.toGuest(gport, from, d, fromHost);
        }),
      };
      f = flow;
    }
    f.lastUsed = now;
    this.flows.set(gport, f);
    f.sock.send(dport, data, host);
  }

  /** Close flows quiet for longer than the idle timeout. */
  expire(now: number): void {
    for (const [port, f] of this.flows) {
      if (now - f.lastUsed < this.idleMs) continue;
      f.sock.close();
      this.flows.delete(port);
      this.expired++;
    }
  }

  closeAll(): void {
    for (const f of this.flows.values()) f.sock.close();
    this.flows.clear();
  }
}

/** One host client of a UDP port forward, which the guest sees as the gateway's port `gwPort`. */
interface ForwardSession {
  key: string;
  listener: HostUdp;
  host: string;
  port: number;
  guestPort: number;
  gwPort: number;
  lastUsed: number;
}

/**
 * UDP port forwards into the guest (QEMU's hostfwd=udp:…): each host client (address and port) of a
 * forwarded host port gets a gateway port of its own, so the guest's replies to the gateway at that port
 * go back to that client through the forward's socket. Sessions end after a quiet spell; when the table is
 * full the least recently used one makes room.
 */
export class UdpForwards {
  /** By gateway port; insertion order is use order, so the first one is the oldest. */
  private readonly byGw = new Map<number, ForwardSession>();
  private readonly byClient = new Map<string, ForwardSession>();
  private next = 0;

  constructor(
    private readonly max: number,
    private readonly idleMs: number,
    /** A datagram for the guest's `guestPort` from the gateway's `gwPort`. */
    private readonly toGuest: (gwPort: number, guestPort: number, data: Uint8Array) => void,
    private readonly onFull: () => void,
  ) {}

  get size(): number {
    return this.byGw.size;
  }

  /** A datagram from `host`:`port` to the forward of `hostPort`, received on `listener`. */
  fromHost(
    listener: HostUdp,
    hostPort: number,
    guestPort: number,
    host: string,
    port: number,
    data: Uint8Array,
    now: number,
  ): void {
    const key = `${hostPort}|${host}|${port}`;
    let s = this.byClient.get(key);
    if (s) this.byGw.delete(s.gwPort);
    else {
      if (this.byGw.size >= this.max) {
        const [, old] = this.byGw.entries().next().value as [number, ForwardSession];
        this.drop(old);
        this.onFull();
      }
      let gwPort = 0;
      do gwPort = 49152 + (this.next++ % 16384);
      while (this.byGw.has(gwPort));
      s = { key, listener, host, port, guestPort, gwPort, lastUsed: now };
      this.byClient.set(key, s);
    }
    s.lastUsed = now;
    this.byGw.set(s.gwPort, s);
    this.toGuest(s.gwPort, guestPort, data);
  }

  /**
   * A guest datagram to the gateway: true when it answers a forward session (from the forwarded guest
   * port to the session's gateway port), which sends it back to the session's client.
   */
  fromGuest(sport: number, dport: number, data: Uint8Array, now: number): boolean {
    const s = this.byGw.get(dport);
    if (!s || s.guestPort !== sport) return false;
    s.lastUsed = now;
    s.listener.send(s.port, data, s.host);
    return true;
  }

  expire(now: number): void {
    for (const s of [...this.byGw.values()]) if (now - s.lastUsed >= this.idleMs) this.drop(s);
  }

  /** Forget every session (the listeners stay: they belong to the forwards). */
  clear(): void {
    this.byGw.clear();
    this.byClient.clear();
  }

  private drop(s: ForwardSession): void {
    this.byGw.delete(s.gwPort);
    this.byClient.delete(s.key);
  }
}
