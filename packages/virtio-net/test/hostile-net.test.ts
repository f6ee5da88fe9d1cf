/** Issue 15: a greedy guest and a greedy host peer get bounded memory, windows, timeouts and limits. */
import { MmioTransport, Ram, bit, yieldTurn, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  GATEWAY,
  GATEWAY_MAC,
  GUEST,
  HDR_SIZE,
  MSS,
  NetFeature,
  QueueIndex,
  RECV_WINDOW,
  UserNet,
  VirtioNetDevice,
  encodeHdr,
  packets as P,
  type HostSockets,
  type HostTcpHandlers,
  type UserNetOptions,
} from '../src/index.js';

const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);

interface FakeTcp {
  port: number;
  h: HostTcpHandlers;
  written: number;
  /** Bytes the host "kernel" has not taken: nobody reads, so it only grows until drained by the test. */
  buffered: number;
  destroyed: boolean;
}

function stack(opts: UserNetOptions = {}) {
  const tcp: FakeTcp[] = [];
  const udp: { sent: number; closed: boolean }[] = [];
  const host: HostSockets = {
    tcpConnect(port, h) {
      const s: FakeTcp = { port, h, written: 0, buffered: 0, destroyed: false };
      tcp.push(s);
      return {
        write: (b) => {
          s.written += b.length;
          s.buffered += b.length;
          return s.buffered < 16384;
        },
        buffered: () => s.buffered,
        end() {},
        destroy: () => void (s.destroyed = true),
        pause() {},
        resume() {},
      };
    },
    udpOpen() {
      const u = { sent: 0, closed: false };
      udp.push(u);
      return { send: () => void u.sent++, close: () => void (u.closed = true) };
    },
  };
  const warns: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => warns.push(m), error: (m) => warns.push(m) };
  const net = new UserNet(host, log, opts);
  const out: Uint8Array[] = [];
  net.attach((fr) => out.push(fr));
  const ip = (dst: number, proto: number, payload: Uint8Array) =>
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildIp(GUEST, dst, proto, payload)));
  const seg = (s: Partial<Parameters<typeof P.buildTcp>[2]>, data?: Uint8Array) =>
    ip(
      GATEWAY,
      P.IpProto.Tcp,
      P.parseIp(
        P.buildTcp(
          GUEST,
          GATEWAY,
          { sport: 40000, dport: 8080, seq: 0, ack: 0, flags: 0, window: 65535, ...s },
          data,
        ),
      )!.payload,
    );
  const segs = () =>
    out.splice(0).flatMap((fr) => {
      const i = P.parseIp(P.parseEth(fr)!.payload);
      return i && i.proto === P.IpProto.Tcp ? [P.parseTcp(i.payload)!] : [];
    });
  /** Open one connection through the handshake; returns the guest's next seq and our ISN + 1. */
  const connect = (sport = 40000) => {
    seg({ sport, seq: 100, flags: P.Tcp.Syn, mss: 1460 });
    tcp[tcp.length - 1].h.onConnect();
    const synack = segs().at(-1)!;
    seg({ sport, seq: 101, ack: synack.seq + 1, flags: P.Tcp.Ack });
    return { seq: 101, ack: synack.seq + 1, sock: tcp[tcp.length - 1] };
  };
  return { net, tcp, udp, ip, seg, segs, connect, warns, out };
}

afterEach(() => void vi.useRealTimers());

describe('guest to host TCP backpressure', () => {
  it('never takes more than the window the host socket can hold, and reopens it on drain', () => {
    const s = stack();
    const c = s.connect();
    let seq = c.seq;
    const chunk = new Uint8Array(MSS).fill(7);
    // A guest that ignores our window and blasts 1.5 MB at a host that never reads.
    for (let i = 0; i < 1000; i++) {
      s.seg({ seq, ack: c.ack, flags: P.Tcp.Ack }, chunk);
      const acks = s.segs();
      seq = acks.at(-1)!.ack; // a real guest resends from what we acknowledged
    }
    expect(c.sock.written).toBeLessThanOrEqual(RECV_WINDOW + MSS);
    const last = s.segs();
    s.seg({ seq, ack: c.ack, flags: P.Tcp.Ack }, chunk);
    const zero = s.segs().at(-1)!;
    expect(zero.window).toBeLessThan(MSS);
    expect(last.length).toBe(0);
    // The host reads everything: a window update goes out at once.
    c.sock.buffered = 0;
    c.sock.h.onDrain?.();
    const upd = s.segs().at(-1)!;
    expect(upd.window).toBe(RECV_WINDOW);
    expect(upd.ack).toBe(seq);
  });

  it('drops segments above the MSS it announced', () => {
    const s = stack();
    const c = s.connect();
    s.seg({ seq: c.seq, ack: c.ack, flags: P.Tcp.Ack }, new Uint8Array(MSS + 1));
    expect(c.sock.written).toBe(0);
    expect(s.segs().at(-1)!.ack).toBe(c.seq);
    expect(s.net.stats.oversized).toBe(1);
    s.seg({ seq: c.seq, ack: c.ack, flags: P.Tcp.Ack }, new Uint8Array(MSS));
    expect(c.sock.written).toBe(MSS);
  });
});

describe('timeouts and limits', () => {
  it('expires half-open connections: 256 SYNs that never complete stop pinning the table', () => {
    vi.useFakeTimers();
    const s = stack({ maxTcp: 256 });
    for (let i = 0; i < 256; i++) s.seg({ sport: 1000 + i, seq: 1, flags: P.Tcp.Syn });
    for (const t of s.tcp) t.h.onConnect(); // the host accepts; the guest never ACKs the SYN-ACK
    s.seg({ sport: 5000, seq: 1, flags: P.Tcp.Syn });
    expect(s.segs().at(-1)!.flags & P.Tcp.Rst).toBeTruthy();
    expect(s.warns.filter((w) => w.includes('limit reached')).length).toBe(1);
    for (let i = 0; i < 50; i++) s.seg({ sport: 6000 + i, seq: 1, flags: P.Tcp.Syn });
    expect(s.warns.filter((w) => w.includes('limit reached')).length).toBe(1); // rate-limited
    vi.advanceTimersByTime(20_000);
    expect(s.net.openFlows.tcp).toBe(0);
    expect(s.tcp.every((t) => t.destroyed)).toBe(true);
    // SYN-ACKs are not resent forever.
    s.segs();
    vi.advanceTimersByTime(60_000);
    expect(s.segs().length).toBe(0);
    const before = s.tcp.length;
    s.seg({ sport: 7000, seq: 1, flags: P.Tcp.Syn });
    expect(s.tcp.length).toBe(before + 1);
  });

  it('resets an idle established connection, and one whose data is never acknowledged', () => {
    vi.useFakeTimers();
    const s = stack({ tcpIdleMs: 60_000, maxRetransmits: 3 });
    const a = s.connect(40001);
    vi.advanceTimersByTime(61_000);
    expect(a.sock.destroyed).toBe(true);
    const b = s.connect(40002);
    b.sock.h.onData(new Uint8Array(100));
    vi.advanceTimersByTime(20_000);
    expect(b.sock.destroyed).toBe(true);
    expect(s.net.openFlows.tcp).toBe(0);
    expect(s.net.stats.tcpExpired).toBe(2);
  });

  it('UDP: 300 source ports never lock out new flows, and idle flows expire', () => {
    vi.useFakeTimers();
    const s = stack({ maxUdp: 256, udpIdleMs: 30_000 });
    const udp = (sport: number) =>
      s.ip(
        GATEWAY,
        P.IpProto.Udp,
        P.parseIp(P.buildUdp(GUEST, GATEWAY, sport, 9999, new Uint8Array(4)))!.payload,
      );
    for (let i = 0; i < 300; i++) udp(20000 + i);
    expect(s.udp.filter((u) => u.sent === 1).length).toBe(300);
    expect(s.net.openFlows.udp).toBe(256);
    expect(s.udp.filter((u) => u.closed).length).toBe(44);
    expect(s.warns.filter((w) => w.includes('UDP')).length).toBe(1);
    vi.advanceTimersByTime(31_000);
    expect(s.net.openFlows.udp).toBe(0);
    expect(s.udp.every((u) => u.closed)).toBe(true);
  });
});

describe('reset', () => {
  function device() {
    const ram = new Ram(0x8000_0000, 2 << 20);
    const s = stack();
    const dev = new VirtioNetDevice({ mac: GMAC, backend: s.net });
    const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
    const drv = new VirtioTestDriver(t, ram, 0x8000_1000);
    expect(drv.init(bit(NetFeature.Mac) | (1n << 32n))).toBe(true);
    return { s, dev, t, drv };
  }

  it('a device reset and a machine reset both close every connection and flow', () => {
    for (const how of ['driver', 'machine'] as const) {
      const { s, t, drv } = device();
      // The device took over the stack's output, so no handshake here: a SYN is a connection already.
      s.seg({ seq: 100, flags: P.Tcp.Syn });
      const c = { sock: s.tcp[0] };
      s.ip(
        GATEWAY,
        P.IpProto.Udp,
        P.parseIp(P.buildUdp(GUEST, GATEWAY, 5353, 9, new Uint8Array(1)))!.payload,
      );
      expect(s.net.openFlows).toEqual({ tcp: 1, udp: 1 });
      if (how === 'driver') drv.setReg(0x70, 0);
      else t.reset();
      expect(s.net.openFlows).toEqual({ tcp: 0, udp: 0 });
      expect(c.sock.destroyed).toBe(true);
      expect(s.udp[0].closed).toBe(true);
    }
  });
});

describe('virtio-net transmit', () => {
  it('handles a bounded number of frames per turn and continues on the next', async () => {
    const ram = new Ram(0x8000_0000, 4 << 20);
    const sent: number[] = [];
    const dev = new VirtioNetDevice({
      mac: GMAC,
      backend: { send: (f) => void sent.push(f.length), attach() {} },
      turnLimits: { requests: 16, bytes: 1 << 30 },
    });
    const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
    const drv = new VirtioTestDriver(t, ram, 0x8000_1000);
    expect(drv.init(bit(NetFeature.Mac) | (1n << 32n))).toBe(true);
    for (let i = 0; i < 200; i++) {
      const b = new Uint8Array(HDR_SIZE + 60);
      encodeHdr({}, b);
      drv.add(QueueIndex.Tx, { out: [b] });
    }
    drv.kick(QueueIndex.Tx, true);
    expect(sent.length).toBe(16);
    expect(dev.requestsInFlight).toBe(1);
    for (let i = 0; i < 20 && sent.length < 200; i++) await yieldTurn();
    expect(sent.length).toBe(200);
  });
});
