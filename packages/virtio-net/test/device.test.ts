import { MmioReg as R, MmioTransport, Ram, bit, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { describe, expect, it } from 'vitest';
import plugin, {
  HDR_SIZE,
  HdrFlag,
  MAX_RX_PENDING,
  NetFeature,
  QueueIndex,
  VirtioNetDevice,
  createPair,
  decodeHdr,
  encodeHdr,
  inetChecksum,
  type NetBackend,
} from '../src/index.js';

const RAM_BASE = 0x8000_0000;
const MAC = Uint8Array.from([0x52, 0x54, 0, 1, 2, 3]);

class Capture implements NetBackend {
  sent: Uint8Array[] = [];
  deliver: (f: Uint8Array) => void = () => {};
  send(f: Uint8Array) {
    this.sent.push(f.slice());
  }
  attach(d: (f: Uint8Array) => void) {
    this.deliver = d;
  }
}

function setup(want = bit(NetFeature.Csum) | bit(NetFeature.GuestCsum) | bit(NetFeature.MrgRxbuf)) {
  const ram = new Ram(RAM_BASE, 2 << 20);
  const logs: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => logs.push(m), error: (m) => logs.push(m) };
  const backend = new Capture();
  const dev = new VirtioNetDevice({ mac: MAC, backend, log });
  const t = new MmioTransport(dev, { memory: ram, irq: { set() {} }, log });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  const all = want | bit(NetFeature.Mac) | bit(NetFeature.Status) | bit(NetFeature.Mtu);
  expect(drv.init(all | (1n << 32n), [256, 256])).toBe(true);
  const tx = (frame: Uint8Array, hdr: Parameters<typeof encodeHdr>[0] = {}) => {
    const b = new Uint8Array(HDR_SIZE + frame.length);
    encodeHdr(hdr, b);
    b.set(frame, HDR_SIZE);
    drv.add(QueueIndex.Tx, { out: [b] });
    drv.kick(QueueIndex.Tx, true);
    return drv.takeUsed(QueueIndex.Tx);
  };
  const rxBufs = new Map<number, number>();
  const postRx = (n: number, size: number) => {
    for (let i = 0; i < n; i++) {
      const { head, inAddrs } = drv.add(QueueIndex.Rx, { inLens: [size] });
      rxBufs.set(head, inAddrs[0]);
    }
    drv.kick(QueueIndex.Rx, true);
  };
  const rx = () => drv.takeUsed(QueueIndex.Rx).map((u) => ram.view(rxBufs.get(u.id)!, u.len)!.slice());
  return { ram, drv, dev, backend, logs, tx, postRx, rx };
}

const frame = (n: number, fill = 0xab) => {
  const f = new Uint8Array(n).fill(fill);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  f.set(MAC, 6);
  return f;
};

describe('virtio-net device', () => {
  it('offers MAC, link up and MTU 1500 in its configuration', () => {
    const { drv } = setup();
    expect(drv.reg(R.DeviceId)).toBe(1);
    const cfg = Array.from({ length: 12 }, (_, i) => drv.dev.read(R.Config + i, 1));
    expect(cfg.slice(0, 6)).toEqual([...MAC]);
    expect(cfg[6] | (cfg[7] << 8)).toBe(1);
    expect(cfg[10] | (cfg[11] << 8)).toBe(1500);
  });

  it('sends guest frames to the backend and completes partial checksums', () => {
    const { tx, backend } = setup();
    // An Ethernet frame whose bytes 14.. are checksummed into bytes 30..31, which hold a seed of 0x1234.
    const f = frame(60);
    f[30] = 0x12;
    f[31] = 0x34;
    tx(f, { flags: HdrFlag.NeedsCsum, csumStart: 14, csumOffset: 16 });
    const out = backend.sent[0];
    expect(out.length).toBe(60);
    // Verifying adds the pseudo-header sum the seed stood for: the total folds to zero.
    expect(inetChecksum(out, 14, 60, 0x1234)).toBe(0);
    expect(inetChecksum(out, 14, 60)).not.toBe(0);
  });

  it('drops malformed transmit buffers with a log line and goes on', () => {
    const { tx, drv, backend, dev, logs } = setup();
    expect(tx(new Uint8Array(4)).length).toBe(1); // shorter than an Ethernet header
    tx(frame(70), { gsoType: 1 }); // GSO was never offered
    tx(frame(40), { flags: HdrFlag.NeedsCsum, csumStart: 39, csumOffset: 10 }); // field beyond the frame
    tx(frame(65551)); // larger than any frame we accept
    drv.add(QueueIndex.Tx, { out: [new Uint8Array(HDR_SIZE + 60)], inLens: [8] }); // device-writable part
    drv.kick(QueueIndex.Tx, true);
    expect(backend.sent.length).toBe(0);
    expect(dev.stats.txDropped).toBe(5);
    expect(logs.length).toBeGreaterThan(0);
    tx(frame(60));
    expect(backend.sent.length).toBe(1);
  });

  it('spreads a received frame over mergeable buffers and says how many', () => {
    const { postRx, rx, backend } = setup();
    postRx(4, 512);
    backend.deliver(frame(1200, 7));
    const got = rx();
    expect(got.map((b) => b.length)).toEqual([512, 512, 188]);
    const h = decodeHdr(got[0])!;
    expect(h.numBuffers).toBe(3);
    expect(h.flags).toBe(HdrFlag.DataValid);
    const joined = new Uint8Array(1212);
    let o = 0;
    for (const b of got) {
      joined.set(b, o);
      o += b.length;
    }
    expect(joined.subarray(HDR_SIZE)).toEqual(frame(1200, 7));
  });

  it('without mergeable buffers, drops a frame larger than the buffer instead of splitting it', () => {
    const { postRx, rx, backend, dev } = setup(0n);
    postRx(2, 256);
    backend.deliver(frame(600));
    backend.deliver(frame(100));
    const got = rx();
    expect(got.map((b) => b.length)).toEqual([0, 112]);
    expect(dev.stats.rxDropped).toBe(1);
  });

  it('keeps a bounded number of frames while the guest posts no receive buffers', () => {
    const { postRx, rx, backend, dev } = setup();
    for (let i = 0; i < MAX_RX_PENDING + 20; i++) backend.deliver(frame(100));
    expect(dev.stats.rxDropped).toBe(20);
    postRx(256, 2048);
    expect(rx().length).toBe(MAX_RX_PENDING);
  });

  it('a pair carries frames between two devices', async () => {
    const [a, b] = createPair();
    const got: number[] = [];
    b.attach((f) => got.push(f.length));
    a.send(frame(99));
    await Promise.resolve();
    expect(got).toEqual([99]);
  });

  it('plugin options are checked with one clear line', () => {
    expect(plugin.parseOptions({ mac: '52:54:00:aa:bb:cc', backend: 'pair:lan' }).backend).toBe('pair:lan');
    expect(() => plugin.parseOptions({ mac: '01:00:5e:00:00:01' })).toThrow(/not be multicast/);
    expect(() => plugin.parseOptions({ mac: 'nope' })).toThrow(/52:54:00:12:34:56/);
    expect(() => plugin.parseOptions({ backend: 'tap0' })).toThrow(/"user", "none" or "pair:NAME"/);
    expect(() => plugin.parseOptions({ bakend: 'user' })).toThrow(/bakend/);
  });
});
