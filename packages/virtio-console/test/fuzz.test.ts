import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLIPBOARD_PORT,
  ClipboardConsole,
  FrameParser,
  HEADER_SIZE,
  encodeFrame,
  encodeHello,
} from '../src/index.js';
import { FakeGuest } from './harness.js';

describe('fuzz', () => {
  it('the parser finds the same frames however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 300 })), {
          maxLength: 8,
        }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (msgs, cuts) => {
          const stream = new Uint8Array(msgs.flatMap(([t, p]) => [...encodeFrame(t, p)]));
          const p = new FrameParser(1000);
          const got: [number, number[]][] = [];
          let i = 0;
          for (let k = 0; i < stream.length; k++) {
            const n = cuts[k % cuts.length];
            for (const f of p.push(stream.subarray(i, i + n))) got.push([f.type, [...f.payload]]);
            i += n;
          }
          expect(p.error).toBeNull();
          expect(got).toEqual(msgs.map(([t, b]) => [t, [...b]]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('garbage never throws and never holds more than one bounded frame', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), (chunks) => {
        const p = new FrameParser(256);
        for (const c of chunks) {
          p.push(c);
          expect(p.buffered).toBeLessThanOrEqual(256 + HEADER_SIZE);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a guest writing anything on the port and sending any control message never makes the device throw', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('data' as const), bytes: fc.uint8Array({ maxLength: 80 }) }),
            fc.record({
              kind: fc.constant('control' as const),
              id: fc.integer({ min: 0, max: 3 }),
              event: fc.integer({ min: 0, max: 9 }),
              value: fc.integer({ min: 0, max: 2 }),
            }),
          ),
          { maxLength: 25 },
        ),
        (ops) => {
          const dev = new ClipboardConsole({ ports: [CLIPBOARD_PORT] });
          const g = new FakeGuest(dev);
          g.probe();
          g.open(0);
          g.write(0, encodeHello());
          for (const op of ops) {
            if (op.kind === 'data') g.write(0, op.bytes.length ? op.bytes : new Uint8Array(1));
            else g.sendControl(op);
            dev.clipboard!.setText('host');
            g.read(0);
            g.readControl();
          }
          expect(dev.ports[0].pendingBytes).toBeLessThanOrEqual(dev.ports[0].maxPending);
        },
      ),
      { numRuns: 150 },
    );
  });
});
