/**
 * Property-based fuzzing of the virtio-power request parser and config space (fast-check): random
 * request types, flags and arguments, random response buffer sizes, random raw request bytes and config
 * writes. Every request is answered, nothing throws, the device never needs a reset. VDESK_LONG=1 runs
 * 100x more cases.
 */
import fc from 'fast-check';
import { MmioReg as R, Status } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { QueueIndex } from '../src/index.js';
import { ALL_POWER, sampleInventory, setup } from './helpers.js';

const LONG = process.env.VDESK_LONG === '1';
const RUNS = LONG ? 10_000 : 100;
const TIMEOUT = LONG ? 900_000 : 60_000;

const u32 = fc.oneof(
  fc.integer({ min: 0, max: 8 }),
  fc.integer({ min: 0, max: 70_000 }),
  fc.constant(0xffff_ffff),
);
const op = fc.oneof(
  fc.record({
    kind: fc.constant('request' as const),
    type: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.nat()),
    flags: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u32 }),
    arg0: u32,
    arg1: u32,
    inLen: fc.constantFrom(0, 4, 16, 17, 4096, 70_000),
  }),
  fc.record({
    kind: fc.constant('raw' as const),
    bytes: fc.uint8Array({ maxLength: 40 }),
    inLen: fc.constantFrom(0, 16, 64),
  }),
  fc.record({
    kind: fc.constant('config' as const),
    off: fc.integer({ min: 0, max: 0x80 }),
    width: fc.constantFrom(1, 2, 4),
    value: fc.nat(),
  }),
);

describe('virtio-power fuzzing', () => {
  it(
    `answers random requests and config writes without reset (${RUNS} sequences)`,
    () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 20 }), (ops) => {
          const { drv, t } = setup({ inventory: () => ({ ...sampleInventory(3), name: 'fuzz' }) }, 8 << 20);
          expect(drv.probe(ALL_POWER)).toBe(true);
          for (const o of ops) {
            if (o.kind === 'config') {
              expect(() => t.write(R.Config + o.off, o.width as 1 | 2 | 4, o.value)).not.toThrow();
              continue;
            }
            const out =
              o.kind === 'raw'
                ? o.bytes
                : (() => {
                    const b = new Uint8Array(16);
                    const dv = new DataView(b.buffer);
                    dv.setUint32(0, o.type, true);
                    dv.setUint32(4, o.flags, true);
                    dv.setUint32(8, o.arg0, true);
                    dv.setUint32(12, o.arg1, true);
                    return b;
                  })();
            const { head } = drv.add(QueueIndex.Request, { out: [out], inLens: o.inLen ? [o.inLen] : [] });
            expect(() => drv.kick(QueueIndex.Request, true)).not.toThrow();
            expect(drv.takeUsed(QueueIndex.Request).map((u) => u.id)).toContain(head);
          }
          expect(drv.status & Status.DeviceNeedsReset).toBe(0);
        }),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
      // The stated host memory ceiling: whatever the guest sent, this worker stays under 1 GiB.
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );
});
