/**
 * Property-based fuzzing of the virtio-gpu command parser (fast-check): sequences of commands built from
 * real command types with random fields (ids, rects, offsets, backing entries), some aimed at guest RAM.
 * Every request is answered, the device never needs a reset, never logs an internal error, and resource
 * memory stays under its cap. VDESK_LONG=1 runs 100x more cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HDR_SIZE, QueueIndex } from '../src/protocol.js';
import { PAGE_POOL, RAM_BASE, RAM_SIZE, setup } from './helpers.js';

const LONG = process.env.VDESK_LONG === '1';
const RUNS = LONG ? 10_000 : 100;
const TIMEOUT = LONG ? 900_000 : 60_000;

const u32 = fc.oneof(
  fc.integer({ min: 0, max: 4 }),
  fc.integer({ min: 0, max: 2048 }),
  fc.constantFrom(0xffff_ffff, 0x8000_0000, 0x7fff_ffff),
  fc.nat(),
);
const addr = fc.oneof(
  fc.integer({ min: PAGE_POOL, max: RAM_BASE + RAM_SIZE - 4096 }),
  fc.constantFrom(0, RAM_BASE + RAM_SIZE - 8, 2 ** 40),
);
const command = fc.record({
  type: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x10a) },
    { weight: 1, arbitrary: fc.constantFrom(0x300, 0x301, 0x108, 0x109, 0x999) },
  ),
  fields: fc.array(u32, { minLength: 8, maxLength: 8 }),
  len: fc.constantFrom(24, 32, 40, 48, 56, 64, 96, 8),
  entries: fc.array(fc.record({ addr, length: fc.oneof(fc.constant(4096), u32) }), { maxLength: 4 }),
  resp: fc.constantFrom(0, 8, 24, 408, 1056),
  cursor: fc.boolean(),
});

describe('virtio-fb fuzzing', () => {
  it(
    `answers random command sequences without reset or internal error (${RUNS} sequences)`,
    () => {
      fc.assert(
        fc.property(fc.array(command, { minLength: 1, maxLength: 30 }), (cmds) => {
          const s = setup({
            maxResourceMemory: 8 << 20,
            turnLimits: { requests: Infinity, bytes: Infinity },
          });
          s.init();
          for (const c of cmds) {
            const b = new Uint8Array(c.len);
            const dv = new DataView(b.buffer);
            dv.setUint32(0, c.type, true);
            for (let i = 0; i < c.fields.length && 24 + 4 * i + 4 <= c.len; i++)
              dv.setUint32(24 + 4 * i, c.fields[i], true);
            const data: Uint8Array[] = [];
            if (c.type === 0x106 && c.len >= 32) {
              dv.setUint32(28, c.entries.length, true);
              const e = new Uint8Array(16 * c.entries.length);
              const ev = new DataView(e.buffer);
              c.entries.forEach((x, i) => {
                ev.setBigUint64(16 * i, BigInt(x.addr), true);
                ev.setUint32(16 * i + 8, x.length, true);
              });
              data.push(e);
            }
            s.send(
              c.cursor ? QueueIndex.Cursor : QueueIndex.Control,
              b,
              c.resp >= HDR_SIZE || c.resp === 0 ? c.resp : 0,
              data,
            );
          }
          expect(s.needsReset()).toBe(false);
          expect(s.dev.resourceMemory).toBeLessThanOrEqual(8 << 20);
          expect(s.logs.some((l) => l.includes('internal error'))).toBe(false);
        }),
        { numRuns: RUNS, seed: LONG ? undefined : 15 },
      );
      // The stated host memory ceiling: whatever the guest sent, this worker stays under 1 GiB.
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );
});
