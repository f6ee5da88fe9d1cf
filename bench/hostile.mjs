#!/usr/bin/env node
// A hostile guest, played through the MMIO registers with the virtio-core test driver, floods each device
// and the user-mode network while a "viewer" timer ticks every 16 ms. Prints, per scenario, the host's RSS
// peak and the longest event-loop stall (perf_hooks.monitorEventLoopDelay, and the worst gap between
// viewer ticks) — measured, not assumed. Needs the packages built (pnpm build).
//
//   node bench/hostile.mjs [--seconds 3] [--json out.json] [--rss-limit-mib 1024] [--stall-limit-ms 250]
//
// Exit status 1 when a bound is exceeded, so it can gate a CI step.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { clearInterval, setImmediate, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import { DescFlag, Feature, MmioTransport, Ram, bit } from '../packages/virtio-core/dist/index.js';
import { VirtioTestDriver } from '../packages/virtio-core/dist/testing.js';
import { VirtioBlkDevice } from '../packages/virtio-blk/dist/index.js';
import { MemoryBackend } from '../packages/virtio-blk/dist/index.js';
import { VirtioGpuDevice } from '../packages/virtio-fb/dist/index.js';
import { VirtioPowerDevice } from '../packages/virtio-power/dist/index.js';
import {
  VirtioNetDevice,
  HDR_SIZE,
  encodeHdr,
  packets as P,
  GATEWAY,
  GUEST,
  GATEWAY_MAC,
} from '../packages/virtio-net/dist/index.js';
import { createUserNet } from '../packages/virtio-net/dist/node.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    json: { type: 'string' },
    'rss-limit-mib': { type: 'string', default: '1024' },
    'stall-limit-ms': { type: 'string', default: '250' },
  },
});
const SECONDS = Number(values.seconds);
const RSS_LIMIT = Number(values['rss-limit-mib']);
const STALL_LIMIT = Number(values['stall-limit-ms']);
const RAM_BASE = 0x8000_0000;
const MiB = 1 << 20;
const turn = () => new Promise((r) => setImmediate(r));
const ALL_RING = bit(Feature.IndirectDesc) | bit(Feature.EventIdx);

/**
 * Runs `guestStep` as a CPU would (one slice per event-loop turn) for SECONDS, with a viewer timer and
 * an RSS sampler alongside; returns the measurements.
 */
async function measure(name, guestStep, setup) {
  globalThis.gc?.();
  const rss0 = process.memoryUsage.rss();
  const ctx = await setup();
  const h = monitorEventLoopDelay({ resolution: 1 });
  let peak = process.memoryUsage.rss();
  let last = performance.now();
  let worstGap = 0;
  let ticks = 0;
  const viewer = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last - 16);
    last = now;
    ticks++;
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 16);
  h.enable();
  const end = performance.now() + SECONDS * 1000;
  let steps = 0;
  while (performance.now() < end) {
    guestStep(ctx);
    steps++;
    peak = Math.max(peak, process.memoryUsage.rss());
    await turn();
  }
  h.disable();
  clearInterval(viewer);
  const work = ctx.work?.() ?? '';
  await ctx.close?.();
  const r = {
    name,
    rssPeakMiB: Math.round(peak / MiB),
    rssGrowthMiB: Math.round((peak - rss0) / MiB),
    loopDelayMaxMs: Math.round(h.max / 1e6),
    viewerWorstGapMs: Math.round(worstGap),
    viewerTicks: ticks,
    guestSteps: steps,
    work,
  };
  console.log(
    `${name.padEnd(42)} rss peak ${String(r.rssPeakMiB).padStart(5)} MiB (+${r.rssGrowthMiB})  ` +
      `longest stall ${String(Math.max(r.loopDelayMaxMs, r.viewerWorstGapMs)).padStart(4)} ms  ` +
      `viewer ticks ${ticks}  ${work}`,
  );
  return r;
}

function machine(dev, ramSize) {
  const ram = new Ram(RAM_BASE, ramSize);
  const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  return { ram, t, drv };
}

/**
 * Every ring entry an indirect table whose entry 0 chains to itself: `bytes` 32 MiB is the attack
 * (refused at once now), null the longest table the spec allows (queue size entries, walked to the end).
 */
function loopingIndirect(dev, qi, features, bytes) {
  return () => {
    const m = machine(dev, 64 * MiB);
    m.drv.init(features | ALL_RING);
    const q = m.drv.queues[qi];
    const len = bytes ?? 16 * q.size;
    const table = m.drv.alloc(len, 16);
    m.drv.writeDesc(table, 0, table, 0, DescFlag.Next, 0);
    for (let i = 0; i < q.size; i++) m.drv.writeDesc(q.desc, i, table, len, DescFlag.Indirect, 0);
    let posted = 0;
    let dropped = 0;
    return {
      m,
      q,
      qi,
      posted: () => posted,
      used: (n) => (dropped += n),
      post() {
        for (let i = 0; i < q.size; i++) m.drv.publish(qi, i);
        posted += q.size;
      },
      work: () => `${dropped} looping chains dropped`,
    };
  };
}
function loopingStep(ctx) {
  // The ring drains as chains are dropped; refill whatever the device gave back.
  const used = ctx.m.drv.takeUsed(ctx.qi).length;
  ctx.used(used);
  // Refill the ring once the device has returned all of it (avail may not run more than a ring ahead).
  if (ctx.posted() === 0 || ctx.m.ram.readU16(ctx.q.used + 2) === ctx.q.availIdx) ctx.post();
  ctx.m.drv.kick(ctx.qi, true);
}

const only = process.env.ONLY;
const scenarios = [
  [
    'power: 32 MiB looping indirect',
    loopingStep,
    loopingIndirect(new VirtioPowerDevice({}), 0, 0n, 32 * MiB),
  ],
  [
    'blk: queue-size looping indirect',
    loopingStep,
    loopingIndirect(new VirtioBlkDevice({ backend: new MemoryBackend({ size: 64 * MiB }) }), 0, 0n, null),
  ],
  [
    'blk: ring of 1 MiB reads (memory disk)',
    (ctx) => {
      const used = ctx.m.drv.takeUsed(0);
      ctx.done += used.length;
      for (const u of used) ctx.repost(u.id);
      if (ctx.first) {
        ctx.first = false;
        for (let i = 0; i < ctx.n; i++) ctx.repost(-1);
      }
      ctx.m.drv.kick(0, true);
    },
    () => {
      const dev = new VirtioBlkDevice({ backend: new MemoryBackend({ size: 256 * MiB }), queueSize: 256 });
      const m = machine(dev, 128 * MiB);
      m.drv.init(ALL_RING);
      const n = 64; // 3 descriptors each (indirect: 1)
      const hdr = new Uint8Array(16);
      const ctx = {
        m,
        n,
        first: true,
        done: 0,
        repost() {
          new DataView(hdr.buffer).setBigUint64(8, BigInt(Math.floor(Math.random() * 255) * 2048), true);
          m.drv.add(0, { out: [hdr], inLens: [MiB, 1], indirect: true });
        },
        work: () => `${ctx.done} MiB read`,
      };
      // The driver's bump allocator would run out: recycle the same buffers by resetting its break.
      const brk = m.drv.alloc(0);
      const add = m.drv.add.bind(m.drv);
      let uses = 0;
      m.drv.add = (qi, spec) => {
        if (++uses % n === 0) m.drv['brk'] = brk;
        return add(qi, spec);
      };
      return ctx;
    },
  ],
  [
    'fb: 64 MiB transfers over one page',
    (ctx) => {
      const used = ctx.m.drv.takeUsed(0).length;
      ctx.done += used;
      ctx.pending -= used;
      while (ctx.pending < 64) {
        ctx.m.drv.publish(0, ctx.head);
        ctx.pending++;
      }
      ctx.m.drv.kick(0, true);
    },
    () => {
      const dev = new VirtioGpuDevice({ maxResourceMemory: 256 * MiB });
      const m = machine(dev, 64 * MiB);
      m.drv.init(ALL_RING);
      const cmd = (type, fields, extra) => {
        const b = new Uint8Array(extra ?? 64);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, type, true);
        fields.forEach(([off, v, big]) =>
          big ? dv.setBigUint64(off, BigInt(v), true) : dv.setUint32(off, v, true),
        );
        return b;
      };
      const send = (b, data = []) => {
        m.drv.add(0, { out: [b, ...data], inLens: [24] });
        m.drv.kick(0, true);
        m.drv.takeUsed(0);
      };
      const W = 4096,
        H = 4096;
      send(
        cmd(
          0x101,
          [
            [24, 1],
            [28, 2],
            [32, W],
            [36, H],
          ],
          40,
        ),
      ); // RESOURCE_CREATE_2D
      const pages = (W * H * 4) / 4096;
      const page = m.drv.alloc(4096, 4096);
      const entries = new Uint8Array(16 * pages);
      const ev = new DataView(entries.buffer);
      for (let i = 0; i < pages; i++) {
        ev.setBigUint64(16 * i, BigInt(page), true);
        ev.setUint32(16 * i + 8, 4096, true);
      }
      send(
        cmd(
          0x106,
          [
            [24, 1],
            [28, pages],
          ],
          32,
        ),
        [entries],
      ); // ATTACH_BACKING
      // One TRANSFER_TO_HOST_2D chain, published again and again (the ring holds 64 copies of it).
      const t = cmd(
        0x105,
        [
          [24, 0],
          [28, 0],
          [32, W],
          [36, H],
          [40, 0, true],
          [48, 1],
        ],
        56,
      );
      const { head } = m.drv.add(0, { out: [t], inLens: [24] });
      m.drv.queues[0].availIdx = (m.drv.queues[0].availIdx - 1) & 0xffff; // add() published it once
      m.ram.writeU16(m.drv.queues[0].avail + 2, m.drv.queues[0].availIdx);
      const ctx = {
        m,
        head,
        pending: 0,
        done: 0,
        work: () => `${ctx.done} transfers (${ctx.done / 16} GiB)`,
      };
      return ctx;
    },
  ],
  [
    'net: guest->host TCP to a non-reading peer',
    (ctx) => ctx.step(),
    async () => {
      const peers = [];
      const server = createServer((s) => {
        s.pause(); // accepts, never reads
        peers.push(s);
      });
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const port = server.address().port;
      const net = createUserNet();
      let ack = 0;
      let win = 0;
      let isn = 0;
      const backend = {
        send: (f) => net.send(f),
        attach: (d) =>
          net.attach((f) => {
            const ip = P.parseIp(P.parseEth(f).payload);
            if (ip?.proto === P.IpProto.Tcp) {
              const t = P.parseTcp(ip.payload);
              if (t.flags & P.Tcp.Syn) isn = t.seq;
              ack = t.ack;
              win = t.window;
            }
            d(f);
          }),
        reset: () => net.reset(),
      };
      const dev = new VirtioNetDevice({ mac: Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]), backend });
      const m = machine(dev, 32 * MiB);
      m.drv.init(bit(5) | (1n << 32n));
      const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);
      const frame = (seg, data) => {
        const ip = P.buildTcp(GUEST, GATEWAY, { sport: 40000, dport: port, window: 65535, ...seg }, data);
        const eth = P.buildEth(GATEWAY_MAC, GMAC, P.EtherType.Ipv4, ip);
        const b = new Uint8Array(HDR_SIZE + eth.length);
        encodeHdr({}, b);
        b.set(eth, HDR_SIZE);
        return b;
      };
      const bufs = m.drv.alloc(0);
      let sent = 0;
      const tx = (b) => {
        m.drv.add(1, { out: [b] });
      };
      tx(frame({ seq: 100, ack: 0, flags: P.Tcp.Syn, mss: 1460 }));
      m.drv.kick(1, true);
      await new Promise((r) => setTimeout(r, 50));
      m.drv.takeUsed(1);
      tx(frame({ seq: 101, ack: isn + 1, flags: P.Tcp.Ack }));
      m.drv.kick(1, true);
      m.drv.takeUsed(1);
      const data = new Uint8Array(1460).fill(0x41);
      const brk = m.drv.alloc(0);
      return {
        step() {
          // Ignore the window: 128 segments from what was last acknowledged, every turn.
          m.drv['brk'] = brk;
          m.drv.takeUsed(1);
          for (let k = 0; k < 128; k++)
            tx(frame({ seq: (ack + k * 1460) >>> 0, ack: isn + 1, flags: P.Tcp.Ack }, data));
          sent += 128 * 1460;
          m.drv.kick(1, true);
        },
        work: () =>
          `${Math.round(sent / MiB)} MiB offered, ${Math.round(((ack - 101) >>> 0) / 1024)} KiB accepted, window now ${win}`,
        close: async () => {
          net.close();
          for (const p of peers) p.destroy();
          await new Promise((r) => server.close(r));
          void bufs;
        },
      };
    },
  ],
  [
    'net: SYN and UDP-port floods',
    (ctx) => ctx.step(),
    () => {
      const net = createUserNet();
      net.attach(() => {});
      const GMAC = Uint8Array.from([0x52, 0x54, 0, 0, 0, 9]);
      let n = 0;
      return {
        step() {
          for (let k = 0; k < 200; k++, n++) {
            const sport = 1024 + (n % 60000);
            net.send(
              P.buildEth(
                GATEWAY_MAC,
                GMAC,
                P.EtherType.Ipv4,
                P.buildTcp(GUEST, GATEWAY, {
                  sport,
                  dport: 9,
                  seq: n,
                  ack: 0,
                  flags: P.Tcp.Syn,
                  window: 100,
                }),
              ),
            );
            net.send(
              P.buildEth(
                GATEWAY_MAC,
                GMAC,
                P.EtherType.Ipv4,
                P.buildUdp(GUEST, GATEWAY, sport, 9, new Uint8Array(64)),
              ),
            );
          }
        },
        work: () => `${n} SYNs + ${n} UDP ports; open now tcp ${net.openFlows.tcp}, udp ${net.openFlows.udp}`,
        close: () => net.close(),
      };
    },
  ],
];

console.log(`hostile guest flood, ${SECONDS} s per scenario, viewer timer every 16 ms`);
const results = [];
for (const [name, step, setup] of scenarios)
  if (!only || name.startsWith(only)) results.push(await measure(name, step, setup));
const rssPeak = Math.max(...results.map((r) => r.rssPeakMiB));
const stall = Math.max(...results.map((r) => Math.max(r.loopDelayMaxMs, r.viewerWorstGapMs)));
console.log(
  `\nworst: rss peak ${rssPeak} MiB (bound ${RSS_LIMIT}), longest stall ${stall} ms (bound ${STALL_LIMIT})`,
);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
process.exitCode = rssPeak > RSS_LIMIT || stall > STALL_LIMIT ? 1 : 0;
