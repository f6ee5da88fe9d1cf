/**
 * Property-based fuzzing of the virtqueue walk (fast-check): random descriptor tables, indirect tables
 * and avail rings. Whatever the guest writes, a notification never throws, never reads outside RAM
 * (CountingMemory would see it: Ram refuses and returns -1/null), and costs a bounded number of memory
 * accesses. VDESK_LONG=1 runs 100x more cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Feature,
  MmioReg as R,
  MmioTransport,
  Ram,
  Status,
  bit,
  type GuestMemory,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '../src/index.js';
import { VirtioTestDriver } from '../src/testing.js';

const LONG = process.env.VDESK_LONG === '1';
const TIMEOUT = LONG ? 900_000 : 60_000;
const RUNS = LONG ? 20_000 : 200;
const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;

/** Ram that counts accesses and remembers any the bounds check refused. */
class Watched extends Ram {
  accesses = 0;
  refused = 0;
  override contains(a: number, n: number): boolean {
    this.accesses++;
    const ok = super.contains(a, n);
    if (!ok) this.refused++;
    return ok;
  }
}

class Echo implements VirtioDevice {
  readonly deviceId = 42;
  readonly features = 0n;
  readonly configSize = 0;
  ctx: VirtioDeviceContext | null = null;
  bytes = 0;
  constructor(readonly queueSizes: readonly number[]) {}
  readConfig(): number {
    return 0;
  }
  writeConfig(): void {}
  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  queueNotify(i: number): void {
    const q = this.ctx!.queues[i];
    for (let c = q.pop(); c; c = q.pop()) {
      const n = Math.min(c.readableLength, 4096);
      const data = c.readBytes(0, n) ?? new Uint8Array(0);
      this.bytes += n;
      q.push(c.head, c.writeBytes(0, data));
    }
    q.signal();
  }
  reset(): void {
    this.ctx = null;
  }
}

const desc = (size: number) =>
  fc.record({
    // Mostly inside the buffer pool, sometimes at the edges of RAM, outside it, or absurd.
    addr: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0x8_0000, max: 0xf_0000 }).map((o) => RAM_BASE + o) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(RAM_BASE + RAM_SIZE - 8, RAM_BASE - 16, 0, 2 ** 52, 2 ** 63),
      },
    ),
    len: fc.oneof(
      fc.integer({ min: 0, max: 512 }),
      fc.constantFrom(16 * size, 16 * size + 16, 0x7fff_fff0, 0xffff_ffff),
    ),
    flags: fc.integer({ min: 0, max: 15 }),
    next: fc.integer({ min: 0, max: size + 2 }),
  });

const scenario = fc.integer({ min: 0, max: 2 }).chain((si) => {
  const size = [4, 16, 256][si];
  return fc.record({
    size: fc.constant(size),
    indirect: fc.boolean(),
    descs: fc.array(desc(size), { minLength: 1, maxLength: Math.min(size, 32) }),
    // Indirect tables live at a fixed spot of the buffer pool; descriptors aim there sometimes.
    table: fc.array(desc(size), { maxLength: 40 }),
    heads: fc.array(fc.integer({ min: 0, max: size + 1 }), { maxLength: 40 }),
    idxJump: fc.oneof(
      { weight: 9, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
  });
});

const TABLE = RAM_BASE + 0x4_0000;

describe('virtqueue fuzzing', () => {
  it(
    `never throws, never reads outside RAM, bounded work per notify (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const ram = new Watched(RAM_BASE, RAM_SIZE);
          const dev = new Echo([s.size]);
          const t = new MmioTransport(dev, { memory: ram as GuestMemory, irq: { set() {} } });
          const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
          drv.init(s.indirect ? bit(Feature.IndirectDesc) | bit(Feature.EventIdx) : 0n);
          const q = drv.queues[0];
          s.table.forEach((d, i) => drv.writeDesc(TABLE, i, d.addr, d.len, d.flags, d.next));
          s.descs.forEach((d, i) => {
            const aimAtTable = d.flags & 8;
            drv.writeDesc(q.desc, i, aimAtTable ? TABLE : d.addr, d.len, d.flags & 7, d.next);
          });
          for (const h of s.heads) drv.publish(0, h);
          if (s.idxJump) ram.writeU16(q.avail + 2, s.idxJump);
          for (let k = 0; k < 3; k++) {
            ram.accesses = 0;
            expect(() => drv.kick(0, true)).not.toThrow();
            // Two queue sizes of walking per pop, one pop per chain returned, a few accesses each.
            expect(ram.accesses).toBeLessThan(64 * s.size * 10 + 4096);
          }
          const st = t.read(R.Status, 4);
          expect(st).toBeGreaterThanOrEqual(0);
          expect(st & ~(0xcf | Status.DeviceNeedsReset)).toBe(0);
          expect(dev.bytes).toBeLessThanOrEqual(4096 * 3 * s.size);
        }),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
    },
    TIMEOUT,
  );

  it(
    `random register traffic never throws and status stays non-negative (${RUNS * 10} writes)`,
    () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 0x1ff }), fc.constantFrom(1, 2, 4), fc.nat()), {
            maxLength: RUNS,
          }),
          (ops) => {
            const ram = new Ram(RAM_BASE, RAM_SIZE);
            const t = new MmioTransport(new Echo([8]), { memory: ram, irq: { set() {} } });
            for (const [off, w, v] of ops) {
              t.write(off, w as 1 | 2 | 4, v);
              expect(t.read(R.Status, 4)).toBeGreaterThanOrEqual(0);
            }
          },
        ),
        { numRuns: 10, seed: LONG ? undefined : 15 },
      );
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );
});
