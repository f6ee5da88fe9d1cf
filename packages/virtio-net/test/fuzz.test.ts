/**
 * Property-based fuzzing of everything the guest can send to the user-mode network and the device
 * (fast-check): raw frames, ARP, IPv4 with any protocol, TCP segments with any flags, sequence numbers,
 * windows and sizes, UDP to DHCP, DNS and forwarded ports, and transmit chains with random virtio-net
 * headers. Nothing throws, the tables stay within their limits, and the host socket never holds more
 * than the window per connection. VDESK_LONG=1 runs 100x more cases.
 */
import fc from 'fast-check';
import { MmioTransport, Ram, bit, silentLogger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { describe, expect, it } from 'vitest';
import {
  DNS,
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
  packets as P,
  type HostSockets,
} from '../src/index.js';

const LONG = process.env.VDESK_LONG === '1';
const RUNS = LONG ? 10_000 : 100;
const TIMEOUT = LONG ? 900_000 : 60_000;
const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);

function host() {
  const socks: { buffered: number; written: number }[] = [];
  const h: HostSockets = {
    tcpConnect(_port, handlers) {
      const s = { buffered: 0, written: 0 };
      socks.push(s);
      // Accept at once, and sometimes push data at the guest.
      queueMicrotask(() => handlers.onConnect());
      return {
        write: (b) => {
          s.written += b.length;
          s.buffered += b.length;
          return s.buffered < 16384;
        },
        buffered: () => s.buffered,
        end() {},
        destroy() {},
        pause() {},
        resume() {},
      };
    },
    udpOpen: () => ({ send() {}, close() {} }),
    // The host resolver answers some names, fails others, and never answers the rest.
    resolve: (name) =>
      name.length % 3 === 0
        ? Promise.resolve(['192.0.2.1', '127.0.0.1'])
        : name.length % 3 === 1
          ? Promise.reject(new Error('ENOTFOUND'))
          : new Promise<string[]>(() => {}),
  };
  return { h, socks };
}

const port = fc.oneof(fc.constantFrom(53, 67, 68, 80, 8080, 40000), fc.integer({ min: 0, max: 65535 }));
const dst = fc.constantFrom(GATEWAY, DNS, GUEST, 0xffffffff, 0x08080808);
const tcpSeg = fc.record({
  sport: fc.integer({ min: 40000, max: 40003 }),
  dport: port,
  seq: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.nat()),
  ack: fc.nat(),
  flags: fc.integer({ min: 0, max: 63 }),
  window: fc.integer({ min: 0, max: 65535 }),
  mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  data: fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.integer({ min: 0, max: 9000 }).map((n) => new Uint8Array(n)),
  ),
});
const frame = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc.record({ dst, seg: tcpSeg }).map(({ dst: d, seg }) => {
    const ip = P.buildIp(GUEST, d, P.IpProto.Tcp, P.parseIp(P.buildTcp(GUEST, d, seg, seg.data))!.payload);
    return P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, ip);
  }),
  fc
    .record({ dst, sport: port, dport: port, data: fc.uint8Array({ maxLength: 600 }), dhcp: fc.boolean() })
    .map((u) => {
      const data = u.dhcp ? dhcpLike(u.data) : u.data;
      return P.buildEth(
        GATEWAY_MAC,
        GMAC,
        P.EtherType.Ipv4,
        P.buildUdp(GUEST, u.dst, u.sport, u.dhcp ? 67 : u.dport, data),
      );
    }),
  fc
    .record({ proto: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 100 }), dst })
    .map((x) => P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, P.buildIp(GUEST, x.dst, x.proto, x.payload))),
  fc
    .uint8Array({ minLength: 28, maxLength: 28 })
    .map((a) => P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Arp, a)),
);

function dhcpLike(tail: Uint8Array): Uint8Array {
  const d = new Uint8Array(240 + tail.length);
  d[0] = 1;
  d.set([99, 130, 83, 99], 236);
  d.set(tail, 240);
  return d;
}

describe('usernet fuzzing', () => {
  it(
    `random guest frames never throw and stay within the limits (${RUNS} sequences)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 60 }), async (frames) => {
          const { h, socks } = host();
          const net = new UserNet(h, silentLogger, { maxTcp: 8, maxUdp: 8 });
          let out = 0;
          net.attach((f) => {
            out += f.length;
            expect(f.length).toBeLessThanOrEqual(14 + 65535);
          });
          for (const f of frames) {
            expect(() => net.send(f)).not.toThrow();
            await Promise.resolve();
          }
          expect(net.openFlows.tcp).toBeLessThanOrEqual(8);
          expect(net.openFlows.udp).toBeLessThanOrEqual(8);
          for (const s of socks) expect(s.written).toBeLessThanOrEqual(RECV_WINDOW + MSS);
          expect(out).toBeGreaterThanOrEqual(0);
          net.close();
        }),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
      // The stated host memory ceiling: whatever the guest sent, this worker stays under 1 GiB.
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );

  it(
    `random transmit chains through the device never throw or need a reset (${RUNS} rings)`,
    () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              hdr: fc.uint8Array({ minLength: HDR_SIZE, maxLength: HDR_SIZE }),
              body: frame,
              inLen: fc.constantFrom(0, 0, 0, 8),
            }),
            {
              minLength: 1,
              maxLength: 40,
            },
          ),
          (txs) => {
            const ram = new Ram(0x8000_0000, 2 << 20);
            const { h } = host();
            const dev = new VirtioNetDevice({ mac: GMAC, backend: new UserNet(h, silentLogger) });
            const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
            const drv = new VirtioTestDriver(t, ram, 0x8000_1000);
            drv.init(bit(NetFeature.Mac) | bit(NetFeature.Csum) | bit(NetFeature.MrgRxbuf) | (1n << 32n));
            for (const x of txs) {
              const b = new Uint8Array(HDR_SIZE + x.body.length);
              b.set(x.hdr);
              b.set(x.body, HDR_SIZE);
              drv.add(QueueIndex.Tx, { out: [b], inLens: x.inLen ? [x.inLen] : [] });
            }
            expect(() => drv.kick(QueueIndex.Tx, true)).not.toThrow();
            expect(drv.takeUsed(QueueIndex.Tx).length).toBe(txs.length);
            expect(drv.status & 64).toBe(0);
            dev.reset();
          },
        ),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
      // The stated host memory ceiling: whatever the guest sent, this worker stays under 1 GiB.
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );
});
