/**
 * Property-based fuzzing of the virtio-blk request parser (fast-check): random headers, types, sectors,
 * data directions and lengths, direct or indirect, split headers. Every request must come back with a
 * status, the device must never need a reset or log an internal failure, and the host must not allocate
 * what the guest asks for beyond the request limit. VDESK_LONG=1 runs 100x more cases.
 */
import fc from 'fast-check';
import { MmioReg as R, Status } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { BlkStatus } from '../src/index.js';
import { queue, rig } from './helpers.js';

const LONG = process.env.VDESK_LONG === '1';
const TIMEOUT = LONG ? 900_000 : 60_000;
const RUNS = LONG ? 5_000 : 50;

const request = fc.record({
  type: fc.oneof(fc.constantFrom(0, 1, 4, 8, 11, 13), fc.nat()),
  sector: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  out: fc.array(fc.integer({ min: 0, max: 2048 }), { maxLength: 3 }),
  inLens: fc.array(fc.integer({ min: 0, max: 4096 }), { maxLength: 3 }),
  indirect: fc.boolean(),
  split: fc.constantFrom([16], [8, 8], [1, 15], [4, 4, 4, 4]),
  fill: fc.nat(255),
});

describe('virtio-blk fuzzing', () => {
  it(
    `answers every random request with a status, no reset, no internal error (${RUNS} rings)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 24 }), async (reqs) => {
          const r = rig({ size: 2 << 20, queueSize: 512, maxDiscardSeg: 4 });
          const sent = reqs.map((q) => {
            const hdr = new Uint8Array(16);
            const dv = new DataView(hdr.buffer);
            dv.setUint32(0, q.type, true);
            dv.setBigUint64(8, BigInt(q.sector), true);
            return queue(r, hdr, {
              out: q.out.map((n) => new Uint8Array(n).fill(q.fill)),
              inLens: q.inLens,
              indirect: q.indirect,
              split: [...q.split],
            });
          });
          r.drv.kick(0, true);
          await r.dev.drain();
          const used = r.drv.takeUsed(0);
          expect(used.length).toBe(reqs.length);
          for (const s of sent)
            expect([BlkStatus.Ok, BlkStatus.IoErr, BlkStatus.Unsupp]).toContain(s.result().status);
          expect(r.t.read(R.Status, 4) & Status.DeviceNeedsReset).toBe(0);
          expect(r.lines.some((l) => /failed:/.test(l))).toBe(false);
        }),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
      // The stated host memory ceiling: whatever the guest sent, this worker stays under 1 GiB.
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );
});
