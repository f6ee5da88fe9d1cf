/** Issue 15 item 3: a memory disk's completions let the event loop turn. */
import { describe, expect, it } from 'vitest';
import { BlkStatus, BlkType } from '../src/index.js';
import { header, queue, rig } from './helpers.js';

describe('bounded work per turn', () => {
  it('a ring of big memory-disk reads lets other callbacks run before it completes', async () => {
    const r = rig({ size: 8 << 20, turnLimits: { requests: 256, bytes: 1 << 20 } });
    const reqs = Array.from({ length: 8 }, (_, i) =>
      queue(r, header(BlkType.In, i * 2048), { inLens: [1 << 20] }),
    );
    let doneWhenOtherRan = -1;
    setImmediate(() => {
      doneWhenOtherRan = r.drv.takeUsed(0).length;
    });
    r.drv.kick(0, true);
    await r.dev.drain();
    // Before the fix every read finished in microtasks, before any other callback could run.
    expect(doneWhenOtherRan).toBeGreaterThanOrEqual(0);
    expect(doneWhenOtherRan).toBeLessThan(3);
    for (const q of reqs) expect(q.result().status).toBe(BlkStatus.Ok);
  });

  it('pops a bounded number of requests per turn and reports the rest as in flight', async () => {
    const r = rig({ turnLimits: { requests: 4, bytes: 64 << 20 } });
    for (let i = 0; i < 20; i++) queue(r, header(BlkType.GetId), { inLens: [20] });
    r.drv.kick(0, true);
    expect(r.drv.takeUsed(0).length).toBe(4);
    expect(r.dev.requestsInFlight).toBeGreaterThan(0);
    await r.dev.drain();
    expect(r.drv.takeUsed(0).length).toBe(16);
    expect(r.dev.requestsInFlight).toBe(0);
  });

  it('a reset drops the continuation: nothing is written afterwards', async () => {
    const r = rig({ turnLimits: { requests: 2, bytes: 64 << 20 } });
    for (let i = 0; i < 10; i++) queue(r, header(BlkType.GetId), { inLens: [20] });
    r.drv.kick(0, true);
    const usedAddr = r.drv.queues[0].used + 2;
    const before = r.ram.readU16(usedAddr);
    r.t.reset();
    await r.dev.drain();
    expect(r.ram.readU16(usedAddr)).toBe(before);
  });
});
