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
