import { silentLogger } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import {
  GATEWAY,
  GATEWAY_MAC,
  GUEST,
  UserNet,
  packets as P,
  type HostSockets,
  type HostTcpHandlers,
} from '../src/index.js';

const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);

/** A fake host: records what the stack does with its sockets and lets the test act as the server. */
function fakeHost() {
  const tcp: {
    port: number;
    h: HostTcpHandlers;
    written: Uint8Array[];
    ended: boolean;
    destroyed: boolean;
  }[] = [];
  const host: HostSockets = {
    tcpConnect(port, h) {
      const s = { port, h, written: [] as Uint8Array[], ended: false, destroyed: false };
      tcp.push(s);
      return {
        write: (b) => s.written.push(b),
        end: () => (s.ended = true),
        destroy: () => (s.destroyed = true),
        pause() {},
        resume() {},
      };
    },
    udpOpen() {
      return { send() {}, close() {} };
    },
  };
  return { host, tcp };
}

function stack() {
  const f = fakeHost();
  const net = new UserNet(f.host, silentLogger);
  const out: Uint8Array[] = [];
  net.attach((fr) => out.push(fr));
  const ip = (dst: number, proto: number, payload: Uint8Array) =>
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildIp(GUEST, dst, proto, payload)));
  const take = () => out.splice(0).map((fr) => P.parseIp(P.parseEth(fr)!.payload));
  return { net, out, ip, take, ...f };
}

describe('user-mode network', () => {
  it('answers ARP for the gateway and ignores ARP for the guest itself', () => {
    const { net, out } = stack();
    const req = new Uint8Array(28);
    const dv = new DataView(req.buffer);
    dv.setUint16(0, 1);
    dv.setUint16(2, 0x800);
    req[4] = 6;
    req[5] = 4;
    dv.setUint16(6, 1);
    req.set(GMAC, 8);
    dv.setUint32(14, GUEST);
    dv.setUint32(24, GATEWAY);
    net.send(P.buildEth(new Uint8Array(6).fill(255), GMAC, P.EtherType.Arp, req));
    const a = P.parseArp(P.parseEth(out[0])!.payload)!;
    expect(a.op).toBe(2);
    expect(a.sha).toEqual(GATEWAY_MAC);
    expect(a.spa).toBe(GATEWAY);
    dv.setUint32(24, GUEST);
    net.send(P.buildEth(new Uint8Array(6).fill(255), GMAC, P.EtherType.Arp, req));
    expect(out.length).toBe(1);
  });

  it('leases 10.0.2.15 over DHCP', () => {
    const { net, out } = stack();
    const d = new Uint8Array(300);
    d[0] = 1;
    d.set([0xde, 0xad, 0xbe, 0xef], 4);
    d.set([99, 130, 83, 99], 236);
    d.set([53, 1, 1, 255], 240);
    net.send(
      P.buildEth(new Uint8Array(6).fill(255), GMAC, P.EtherType.Ipv4, P.buildUdp(0, 0xffffffff, 68, 67, d)),
    );
    const u = P.parseUdp(P.parseIp(P.parseEth(out[0])!.payload)!.payload)!;
    expect(u.dport).toBe(68);
    expect(new DataView(u.data.buffer, u.data.byteOffset).getUint32(16)).toBe(GUEST);
    expect(Array.from(u.data.subarray(4, 8))).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect(Array.from(u.data.subarray(240, 243))).toEqual([53, 1, 2]); // OFFER
  });

  it('drops malformed packets without throwing', () => {
    const { net, out } = stack();
    net.send(new Uint8Array(5));
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, new Uint8Array([0x45, 0, 0, 200])));
    const bad = P.buildIp(GUEST, GATEWAY, P.IpProto.Tcp, new Uint8Array(20));
    bad[10] ^= 1; // header checksum
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, bad));
    const dhcp = new Uint8Array(250);
    dhcp[0] = 1;
    dhcp.set([99, 130, 83, 99, 53, 200], 236);
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildUdp(GUEST, GATEWAY, 68, 67, dhcp)));
    const dnsq = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 99, 1, 2, 3, 0, 0, 1, 0, 1]);
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildUdp(GUEST, 0x0a000203, 5000, 53, dnsq)));
    expect(out.length).toBe(0);
    expect(net.stats.dropped).toBe(5);
  });

  it('carries a TCP connection to the host: handshake, data both ways, FIN, in the guest window', () => {
    const { ip, take, tcp } = stack();
    const seg = (s: Partial<Parameters<typeof P.buildTcp>[2]>, data?: Uint8Array) => {
      const b = P.buildTcp(
        GUEST,
        GATEWAY,
        { sport: 40000, dport: 8080, seq: 0, ack: 0, flags: 0, window: 4000, ...s },
        data,
      );
      ip(GATEWAY, P.IpProto.Tcp, P.parseIp(b)!.payload);
    };
    seg({ seq: 100, flags: P.Tcp.Syn, mss: 1000 });
    expect(tcp[0].port).toBe(8080);
    expect(take()).toEqual([]); // nothing until the host accepts
    tcp[0].h.onConnect();
    const synack = P.parseTcp(take()[0]!.payload)!;
    expect(synack.flags).toBe(P.Tcp.Syn | P.Tcp.Ack);
    expect(synack.ack).toBe(101);
    const isn = synack.seq;
    seg({ seq: 101, ack: isn + 1, flags: P.Tcp.Ack }, new TextEncoder().encode('GET /'));
    expect(new TextDecoder().decode(tcp[0].written[0])).toBe('GET /');
    expect(P.parseTcp(take()[0]!.payload)!.ack).toBe(106);
    // 6000 bytes from the host: the guest's 4000-byte window lets 4 segments of 1000 out.
    tcp[0].h.onData(new Uint8Array(6000).fill(1));
    const first = take().map((p) => P.parseTcp(p!.payload)!);
    expect(first.map((t) => t.data.length)).toEqual([1000, 1000, 1000, 1000]);
    expect(first[0].seq).toBe(isn + 1);
    seg({ seq: 106, ack: isn + 1 + 4000, flags: P.Tcp.Ack });
    tcp[0].h.onEnd();
    const rest = take().map((p) => P.parseTcp(p!.payload)!);
    expect(rest.map((t) => [t.data.length, t.flags & P.Tcp.Fin])).toEqual([[1000, 0], [1000, 0], [0, 1]]); // prettier-ignore
    seg({ seq: 106, ack: isn + 1 + 6000 + 1, flags: P.Tcp.Ack | P.Tcp.Fin });
    expect(tcp[0].ended).toBe(true);
    expect(tcp[0].destroyed).toBe(true); // both sides closed and acknowledged
  });

  it('refuses a connection the host refuses, and resets segments of unknown connections', () => {
    const { ip, take, tcp } = stack();
    const syn = P.buildTcp(GUEST, GATEWAY, {
      sport: 1,
      dport: 9,
      seq: 5,
      ack: 0,
      flags: P.Tcp.Syn,
      window: 100,
    });
    ip(GATEWAY, P.IpProto.Tcp, P.parseIp(syn)!.payload);
    tcp[0].h.onError('ECONNREFUSED');
    expect(P.parseTcp(take()[0]!.payload)!.flags & P.Tcp.Rst).toBeTruthy();
    const stray = P.buildTcp(GUEST, GATEWAY, {
      sport: 2,
      dport: 9,
      seq: 5,
      ack: 9,
      flags: P.Tcp.Ack,
      window: 1,
    });
    ip(GATEWAY, P.IpProto.Tcp, P.parseIp(stray)!.payload);
    expect(P.parseTcp(take()[0]!.payload)!.flags & P.Tcp.Rst).toBeTruthy();
  });
});
