/** Issue 20: NAT to any address, DNS through the host's resolver, port forwards into the guest, modes. */
import { silentLogger } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import {
  DNS,
  GATEWAY,
  GATEWAY_MAC,
  GUEST,
  UserNet,
  packets as P,
  parseForward,
  type HostSockets,
  type HostTcpHandlers,
  type UserNetOptions,
} from '../src/index.js';
import { HostResolver, guestView } from '../src/usernet/dns.js';

const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);
const FAR = P.ipNum('93.184.216.34');

interface FakeTcp {
  port: number;
  host: string | undefined;
  h: HostTcpHandlers;
  written: Uint8Array[];
  destroyed: boolean;
  paused: boolean;
}

function stack(opts: UserNetOptions = {}, names: Record<string, string[]> = {}) {
  const tcp: FakeTcp[] = [];
  const udp: {
    sent: [number, string | undefined, Uint8Array][];
    reply: (p: number, d: Uint8Array, h?: string) => void;
  }[] = [];
  const listens: { port: number; bind: string; conn: (a: (h: HostTcpHandlers) => unknown) => void }[] = [];
  const udpListens: {
    port: number;
    bind: string;
    sent: [number, string | undefined, Uint8Array][];
    receive: (fromPort: number, data: Uint8Array, fromHost: string) => void;
  }[] = [];
  const sock = (s: FakeTcp) => ({
    write: (b: Uint8Array) => void s.written.push(b),
    end() {},
    destroy: () => void (s.destroyed = true),
    pause: () => void (s.paused = true),
    resume: () => void (s.paused = false),
  });
  const host: HostSockets = {
    tcpConnect(port, h, addr) {
      const s: FakeTcp = { port, host: addr, h, written: [], destroyed: false, paused: false };
      tcp.push(s);
      return sock(s);
    },
    udpOpen(onMessage) {
      const u = { sent: [] as [number, string | undefined, Uint8Array][], reply: onMessage };
      udp.push(u);
      return { send: (port, data, addr) => void u.sent.push([port, addr, data]), close() {} };
    },
    resolve: (name) => (names[name] ? Promise.resolve(names[name]) : Promise.reject(new Error('ENOTFOUND'))),
    tcpListen(port, bind, onConnection) {
      listens.push({ port, bind, conn: onConnection as (a: (h: HostTcpHandlers) => unknown) => void });
      return { close() {} };
    },
    udpListen(port, bind, onMessage) {
      const u = { port, bind, sent: [] as [number, string | undefined, Uint8Array][], receive: onMessage };
      udpListens.push(u);
      return { send: (p, data, addr) => void u.sent.push([p, addr, data]), close() {} };
    },
  };
  const net = new UserNet(host, silentLogger, opts);
  const out: Uint8Array[] = [];
  net.attach((fr) => out.push(fr));
  const ip = (src: number, dst: number, proto: number, payload: Uint8Array) =>
    net.send(P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildIp(src, dst, proto, payload)));
  const take = () => out.splice(0).map((fr) => P.parseIp(P.parseEth(fr)!.payload)!);
  const tcpTo = (dst: number, s: Partial<Parameters<typeof P.buildTcp>[2]>, data?: Uint8Array) =>
    ip(
      GUEST,
      dst,
      P.IpProto.Tcp,
      P.parseIp(
        P.buildTcp(
          GUEST,
          dst,
          { sport: 40000, dport: 80, seq: 0, ack: 0, flags: 0, window: 8000, ...s },
          data,
        ),
      )!.payload,
    );
  return { net, ip, take, tcpTo, tcp, udp, listens, udpListens };
}

function dnsQuery(name: string, qtype = 1): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return Uint8Array.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, qtype, 0, 1]);
}

/** The A records and rcode of a DNS response. */
function answers(r: Uint8Array): { rcode: number; a: string[] } {
  const n = r[7];
  const a: string[] = [];
  for (let k = 0; k < n; k++)
    a.push(P.ipStr(new DataView(r.buffer, r.byteOffset).getUint32(r.length - 16 * (n - k) + 12)));
  return { rcode: r[3] & 15, a };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('user-mode network: NAT', () => {
  it('opens TCP to any address as a host socket, and answers from that address', () => {
    const { tcpTo, take, tcp } = stack();
    tcpTo(FAR, { seq: 10, flags: P.Tcp.Syn, mss: 1400 });
    expect(tcp).toHaveLength(1);
    expect(tcp[0].host).toBe('93.184.216.34');
    expect(tcp[0].port).toBe(80);
    tcp[0].h.onConnect();
    const [synack] = take();
    expect(synack.src).toBe(FAR);
    const t = P.parseTcp(synack.payload)!;
    expect(t.flags).toBe(P.Tcp.Syn | P.Tcp.Ack);
    tcpTo(FAR, { seq: 11, ack: t.seq + 1, flags: P.Tcp.Ack }, new TextEncoder().encode('hi'));
    expect(new TextDecoder().decode(tcp[0].written[0])).toBe('hi');
    tcp[0].h.onData(new TextEncoder().encode('back'));
    const data = take().map((p) => [p.src, P.parseTcp(p.payload)!.data.length]);
    expect(data).toContainEqual([FAR, 4]);
  });

  it('the gateway is the host loopback; the rest of the LAN, multicast and loopback are refused', () => {
    const { tcpTo, take, tcp } = stack();
    tcpTo(GATEWAY, { flags: P.Tcp.Syn });
    expect(tcp[0].host).toBe('127.0.0.1');
    for (const dst of ['10.0.2.77', '10.0.2.3']) {
      tcpTo(P.ipNum(dst), { flags: P.Tcp.Syn, sport: 40001 });
      expect(P.parseTcp(take()[0].payload)!.flags & P.Tcp.Rst).toBeTruthy();
    }
    tcpTo(P.ipNum('224.0.0.1'), { flags: P.Tcp.Syn, sport: 40002 });
    tcpTo(P.ipNum('127.0.0.1'), { flags: P.Tcp.Syn, sport: 40003 });
    expect(tcp).toHaveLength(1);
  });

  it('host-only mode reaches the gateway only', () => {
    const { tcpTo, take, tcp, ip, udp } = stack({ mode: 'host-only' });
    tcpTo(FAR, { flags: P.Tcp.Syn });
    expect(tcp).toHaveLength(0);
    expect(P.parseTcp(take()[0].payload)!.flags & P.Tcp.Rst).toBeTruthy();
    ip(GUEST, FAR, P.IpProto.Udp, P.parseIp(P.buildUdp(GUEST, FAR, 5000, 123, new Uint8Array(4)))!.payload);
    expect(udp).toHaveLength(0);
  });

  it('carries UDP to any address and its replies back from that address', () => {
    const { ip, take, udp } = stack();
    ip(GUEST, FAR, P.IpProto.Udp, P.parseIp(P.buildUdp(GUEST, FAR, 5000, 123, Uint8Array.of(1, 2)))!.payload);
    expect(udp[0].sent[0].slice(0, 2)).toEqual([123, '93.184.216.34']);
    udp[0].reply(123, Uint8Array.of(9), '93.184.216.34');
    udp[0].reply(53, Uint8Array.of(8), '127.0.0.1');
    const r = take();
    expect(
      r.map((p) => [P.ipStr(p.src), P.parseUdp(p.payload)!.sport, P.parseUdp(p.payload)!.dport]),
    ).toEqual([
      ['93.184.216.34', 123, 5000],
      ['10.0.2.2', 53, 5000],
    ]);
  });
});

describe('user-mode network: DNS', () => {
  const ask = async (s: ReturnType<typeof stack>, name: string, qtype = 1) => {
    s.ip(
      GUEST,
      DNS,
      P.IpProto.Udp,
      P.parseIp(P.buildUdp(GUEST, DNS, 3333, 53, dnsQuery(name, qtype)))!.payload,
    );
    await flush();
    await flush();
    const r = s.take();
    return r.length ? answers(P.parseUdp(r[0].payload)!.data) : null;
  };

  it('resolves through the host resolver; the host loopback becomes the gateway', async () => {
    const s = stack({}, { 'example.test': ['192.0.2.7', '::1', '192.0.2.8'], localhost: ['127.0.0.1'] });
    expect(await ask(s, 'example.test')).toEqual({ rcode: 0, a: ['192.0.2.7', '192.0.2.8'] });
    expect(await ask(s, 'localhost')).toEqual({ rcode: 0, a: ['10.0.2.2'] });
    expect(await ask(s, 'nosuch.test')).toEqual({ rcode: 3, a: [] });
    expect(await ask(s, 'example.test', 28)).toEqual({ rcode: 0, a: [] }); // AAAA: none
    expect(await ask(s, 'host.vdesk')).toEqual({ rcode: 0, a: ['10.0.2.2'] });
    expect(s.net.stats.lookups).toBe(4); // AAAA asks too: an unknown name is NXDOMAIN for both
  });

  it('host-only mode never asks the host', async () => {
    const s = stack({ mode: 'host-only' }, { 'example.test': ['192.0.2.7'] });
    expect(await ask(s, 'example.test')).toEqual({ rcode: 3, a: [] });
    expect(s.net.stats.lookups).toBe(0);
  });

  it('bounds lookups at once and in time', async () => {
    let calls = 0;
    const never = new HostResolver(() => (calls++, new Promise<string[]>(() => {})), 2, 20);
    const r = await Promise.all([never.lookup('a'), never.lookup('b'), never.lookup('c')]);
    expect(r).toEqual(['busy', 'busy', 'busy']);
    expect(calls).toBe(2);
    expect(never.refused).toBe(1);
    const throws = new HostResolver(() => {
      throw new Error('boom');
    });
    expect(await throws.lookup('x')).toBeNull();
    expect(guestView(['300.1.1.1', 'fe80::1', '10.1.2.3', '10.1.2.3'])).toEqual([P.ipNum('10.1.2.3')]);
  });
});

describe('user-mode network: port forwards', () => {
  it('a host connection to a forwarded port becomes a connection from the gateway to the guest', () => {
    const s = stack({ forwards: [{ proto: 'tcp', hostPort: 8022, guestPort: 22 }] });
    expect(s.listens).toEqual([expect.objectContaining({ port: 8022, bind: '127.0.0.1' })]);
    // The guest has spoken (DHCP, ARP...) before anyone connects: its MAC is known.
    s.ip(GUEST, GATEWAY, P.IpProto.Icmp, Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0));
    s.take();
    let h: HostTcpHandlers | null = null;
    const written: Uint8Array[] = [];
    let resumed = false;
    s.listens[0].conn((handlers) => {
      h = handlers;
      return {
        write: (b: Uint8Array) => void written.push(b),
        end() {},
        destroy() {},
        pause() {},
        resume: () => void (resumed = true),
      };
    });
    const [syn] = s.take();
    const t = P.parseTcp(syn.payload)!;
    expect([syn.src, syn.dst, t.dport, t.flags]).toEqual([GATEWAY, GUEST, 22, P.Tcp.Syn]);
    expect(resumed).toBe(false);
    const reply = (flags: number, seq: number, ack: number, data?: Uint8Array) =>
      s.ip(
        GUEST,
        GATEWAY,
        P.IpProto.Tcp,
        P.parseIp(
          P.buildTcp(
            GUEST,
            GATEWAY,
            { sport: 22, dport: t.sport, seq, ack, flags, window: 8000, mss: 1460 },
            data,
          ),
        )!.payload,
      );
    reply(P.Tcp.Syn | P.Tcp.Ack, 500, t.seq + 1);
    expect(resumed).toBe(true);
    expect(P.parseTcp(s.take()[0].payload)!.ack).toBe(501);
    reply(P.Tcp.Ack, 501, t.seq + 1, new TextEncoder().encode('SSH-2.0'));
    expect(new TextDecoder().decode(written[0])).toBe('SSH-2.0');
    h!.onData(new TextEncoder().encode('hello'));
    const d = s.take().map((p) => P.parseTcp(p.payload)!);
    expect(d.some((x) => new TextDecoder().decode(x.data) === 'hello')).toBe(true);
    expect(s.net.stats.forwarded).toBe(1);
  });

  it('a guest that refuses (RST) closes the host connection', () => {
    const s = stack({ forwards: [{ proto: 'tcp', hostPort: 8080, guestPort: 80 }] });
    s.ip(GUEST, GATEWAY, P.IpProto.Icmp, Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0));
    s.take();
    let destroyed = false;
    s.listens[0].conn(() => ({
      write() {},
      end() {},
      destroy: () => void (destroyed = true),
      pause() {},
      resume() {},
    }));
    const t = P.parseTcp(s.take()[0].payload)!;
    s.ip(
      GUEST,
      GATEWAY,
      P.IpProto.Tcp,
      P.parseIp(
        P.buildTcp(GUEST, GATEWAY, {
          sport: 80,
          dport: t.sport,
          seq: 0,
          ack: t.seq + 1,
          flags: P.Tcp.Rst | P.Tcp.Ack,
          window: 0,
        }),
      )!.payload,
    );
    expect(destroyed).toBe(true);
    expect(s.net.openFlows.tcp).toBe(0);
  });

  it('a UDP forward carries each host client to the guest from a gateway port of its own, and the replies back', () => {
    const s = stack({ forwards: [{ proto: 'udp', hostPort: 5353, guestPort: 53, bind: '0.0.0.0' }] });
    expect(s.udpListens.map((u) => [u.port, u.bind])).toEqual([[5353, '0.0.0.0']]);
    const fwd = s.udpListens[0];
    // Before the guest has spoken there is nowhere to deliver: dropped, as on a wire.
    fwd.receive(40001, Uint8Array.of(1), '127.0.0.1');
    expect(s.take()).toEqual([]);
    s.ip(GUEST, GATEWAY, P.IpProto.Icmp, Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0));
    s.take();
    fwd.receive(40001, new TextEncoder().encode('from-a'), '127.0.0.1');
    fwd.receive(40002, new TextEncoder().encode('from-b'), '192.168.1.7');
    fwd.receive(40001, new TextEncoder().encode('again-a'), '127.0.0.1');
    const got = s.take().map((p) => ({ src: p.src, dst: p.dst, u: P.parseUdp(p.payload)! }));
    expect(got.map((g) => [g.src, g.dst, g.u.dport, new TextDecoder().decode(g.u.data)])).toEqual([
      [GATEWAY, GUEST, 53, 'from-a'],
      [GATEWAY, GUEST, 53, 'from-b'],
      [GATEWAY, GUEST, 53, 'again-a'],
    ]);
    const [a, b, a2] = got.map((g) => g.u.sport);
    expect(a2).toBe(a);
    expect(b).not.toBe(a);
    const reply = (sport: number, dport: number, text: string) =>
      s.ip(
        GUEST,
        GATEWAY,
        P.IpProto.Udp,
        P.parseIp(P.buildUdp(GUEST, GATEWAY, sport, dport, new TextEncoder().encode(text)))!.payload,
      );
    reply(53, b, 'to-b');
    reply(53, a, 'to-a');
    expect(fwd.sent.map(([p, h, d]) => [p, h, new TextDecoder().decode(d)])).toEqual([
      [40002, '192.168.1.7', 'to-b'],
      [40001, '127.0.0.1', 'to-a'],
    ]);
    // From another guest port it is not a reply to the forward: ordinary NAT to the host's loopback.
    reply(5000, a, 'not-a-reply');
    expect(fwd.sent).toHaveLength(2);
    expect(s.udp).toHaveLength(1);
    expect(s.net.stats.forwarded).toBe(3);
  });

  it('parses forward specifications', () => {
    expect(parseForward('tcp:8080:80')).toEqual({ proto: 'tcp', hostPort: 8080, guestPort: 80 });
    expect(parseForward('tcp:0.0.0.0:2222:22')).toEqual({
      proto: 'tcp',
      hostPort: 2222,
      guestPort: 22,
      bind: '0.0.0.0',
    });
    expect(parseForward('udp:5353:53')).toEqual({ proto: 'udp', hostPort: 5353, guestPort: 53 });
    for (const bad of ['tcp:0:80', 'tcp:70000:80', 'sctp:1:2', 'tcp:1.2.3.999:1:2', 'tcp:8080', 'udp:53'])
      expect(typeof parseForward(bad)).toBe('string');
  });
});
