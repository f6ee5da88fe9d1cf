/** Issue 15: a guest that repeats a mistake in a loop gets bounded log output and bounded work. */
import { describe, expect, it } from 'vitest';
import { DescFlag, MmioReg as R } from '@virtio-desktop/virtio-core';
import { ALL_POWER, setup } from './helpers.js';
import { QueueIndex } from '../src/index.js';

describe('a flooding guest', () => {
  it('10000 bad config writes give a bounded number of log lines', () => {
    const { drv, t, logs } = setup();
    drv.probe(ALL_POWER);
    logs.length = 0;
    for (let i = 0; i < 10000; i++) t.write(R.Config + 4, 4, 1);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.length).toBeLessThanOrEqual(25);
  });

  it('a ring of looping indirect tables costs bounded work per notification', () => {
    const { drv, ram } = setup({}, 64 << 20);
    drv.probe(ALL_POWER);
    const q = drv.queues[QueueIndex.Request];
    // The attack: a 32 MiB indirect table whose entry 0 chains to itself.
    const table = drv.alloc(32 << 20, 16);
    drv.writeDesc(table, 0, table, 0, DescFlag.Next, 0);
    for (let i = 0; i < q.size; i++) {
      drv.writeDesc(q.desc, i, table, 32 << 20, DescFlag.Indirect, 0);
      drv.publish(QueueIndex.Request, i);
    }
    const t0 = performance.now();
    for (let k = 0; k < 64; k++) drv.kick(QueueIndex.Request, true);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(ram.readU16(q.used + 2)).toBe(q.size);
  });
});
