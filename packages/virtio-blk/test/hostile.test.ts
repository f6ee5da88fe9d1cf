import { describe, expect, it } from 'vitest';
import { DescFlag, MmioReg as R, Status, bit } from '@virtio-desktop/virtio-core';
import { BlkFeature, BlkStatus, BlkType, MemoryBackend } from '../src/index.js';
import {
  ALL_FEATURES,
  DeferredBackend,
  RAM_BASE,
  RAM_SIZE,
  header,
  pattern,
  queue,
  read,
  request,
  rig,
  segment,
  write,
} from './helpers.js';

const DISK = 1 << 20;
const CAP = DISK / 512;

describe('virtio-blk rejects bad requests with a status', () => {
  it('fails reads and writes beyond capacity', async () => {
    const r = rig({ size: DISK });
    expect((await read(r, CAP, 512)).status).toBe(BlkStatus.IoErr);
    expect((await read(r, CAP - 1, 1024)).status).toBe(BlkStatus.IoErr);
    expect((await write(r, CAP - 1, new Uint8Array(1024))).status).toBe(BlkStatus.IoErr);
    // The last sector itself is fine, and an empty read at the end is too.
    expect((await write(r, CAP - 1, new Uint8Array(512).fill(7))).status).toBe(BlkStatus.Ok);
    expect((await read(r, CAP, 0)).status).toBe(BlkStatus.Ok);
    expect(r.lines.join('\n')).toContain('beyond capacity');
  });

  it('does not wrap sector + length around 2^64 or 2^53', async () => {
    const backend = new MemoryBackend({ size: DISK });
    const r = rig({ backend });
    for (const sector of [2n ** 64n - 1n, 2n ** 64n - 2n, 2n ** 53n, 2n ** 55n + 1n, 2n ** 32n]) {
      expect((await request(r, header(BlkType.In, sector), { inLens: [1024] })).status).toBe(BlkStatus.IoErr);
      expect((await request(r, header(BlkType.Out, sector), { out: [pattern(1024)] })).status).toBe(
        BlkStatus.IoErr,
      );
      const wz = await request(r, header(BlkType.WriteZeroes), { out: [segment(sector, 2)] });
      expect(wz.status).toBe(BlkStatus.IoErr);
    }
    const seg = segment(2n ** 64n - 1n, 2);
    expect((await request(r, header(BlkType.Discard), { out: [seg] })).status).toBe(BlkStatus.IoErr);
    expect((await request(r, header(BlkType.Discard), { out: [segment(CAP - 1, 0xffff_ffff)] })).status).toBe(
      BlkStatus.IoErr,
    );
    expect(backend.bytesStored).toBe(0);
  });

  it('fails data lengths that are not whole sectors', async () => {
    const r = rig();
    expect((await read(r, 0, 511)).status).toBe(BlkStatus.IoErr);
    expect((await write(r, 0, new Uint8Array(513))).status).toBe(BlkStatus.IoErr);
  });

  it('fails a huge data length without allocating it', async () => {
    const r = rig({ size: DISK });
    // 17 writable descriptors that each cover all of guest RAM: 272 MiB of "data", more than the
    // 254 MiB limit, while the guest has 16 MiB.
    const q = r.drv.queues[0];
    const table = r.drv.alloc(16 * 18, 16);
    r.drv.writeDesc(table, 0, r.drv.alloc(16), 16, DescFlag.Next, 1);
    r.ram.write(r.drv.alloc(0) - 16, header(BlkType.In, 0));
    for (let k = 1; k <= 17; k++)
      r.drv.writeDesc(table, k, RAM_BASE, RAM_SIZE, DescFlag.Write | (k < 17 ? DescFlag.Next : 0), k + 1);
    r.drv.writeDesc(q.desc, 0, table, 16 * 18, DescFlag.Indirect, 0);
    r.drv.publish(0, 0);
    r.drv.kick(0, true);
    await r.dev.drain();
    expect(r.drv.takeUsed(0)).toEqual([{ id: 0, len: 1 }]);
    expect(r.lines.join('\n')).toContain('request limit');
    // The status went to the last writable byte: the last byte of RAM.
    expect(r.ram.view(RAM_BASE + RAM_SIZE - 1, 1)![0]).toBe(BlkStatus.IoErr);
  });

  it('fails a big request within the limit but beyond capacity before touching the backend', async () => {
    const d = new DeferredBackend(new MemoryBackend({ size: DISK }));
    const r = rig({ backend: d });
    const res = await read(r, 0, DISK + 512);
    expect(res.status).toBe(BlkStatus.IoErr);
    expect(d.waiting).toHaveLength(0);
  });

  it('returns a chain without a status byte or with a short header with length 0 and a log line', async () => {
    const r = rig();
    // No writable byte at all.
    const a = r.drv.add(0, { out: [header(BlkType.In, 0)] });
    // Header of 10 bytes.
    const b = r.drv.add(0, { out: [header(BlkType.In, 0).subarray(0, 10)], inLens: [512, 1] });
    r.drv.kick(0, true);
    await r.dev.drain();
    expect(r.drv.takeUsed(0)).toEqual([
      { id: a.head, len: 0 },
      { id: b.head, len: 0 },
    ]);
    expect(r.lines.join('\n')).toMatch(/needs a 16-byte header and a status byte/);
    expect(r.dev.stats.malformed).toBe(2);
    // The queue keeps working.
    expect((await read(r, 0, 512)).status).toBe(BlkStatus.Ok);
  });

  it('fails requests whose data goes the wrong way', async () => {
    const r = rig();
    // IN with device-readable data.
    expect(
      (await request(r, header(BlkType.In, 0), { out: [new Uint8Array(512)], inLens: [512] })).status,
    ).toBe(BlkStatus.IoErr);
    // OUT with device-writable data.
    expect((await request(r, header(BlkType.Out, 0), { inLens: [512] })).status).toBe(BlkStatus.IoErr);
    // GET_ID with readable data, DISCARD with writable data.
    expect((await request(r, header(BlkType.GetId), { out: [new Uint8Array(4)], inLens: [20] })).status).toBe(
      BlkStatus.IoErr,
    );
    expect((await request(r, header(BlkType.Discard), { out: [segment(0, 1)], inLens: [16] })).status).toBe(
      BlkStatus.IoErr,
    );
    expect(r.dev.stats.writes).toBe(0);
  });

  it('checks discard and write-zeroes segments', async () => {
    const r = rig({ maxDiscardSeg: 4, maxDiscardSectors: 64 });
    const segs = (n: number) => Array.from({ length: n }, (_, k) => segment(k * 8, 8));
    const dz = (type: number, out: Uint8Array[]) => request(r, header(type), { out });
    for (const t of [BlkType.Discard, BlkType.WriteZeroes]) {
      expect((await dz(t, segs(4))).status).toBe(BlkStatus.Ok);
      expect((await dz(t, segs(5))).status).toBe(BlkStatus.IoErr); // too many segments
      expect((await dz(t, [segment(0, 65)])).status).toBe(BlkStatus.IoErr); // over max sectors
      expect((await dz(t, [segment(CAP - 4, 8)])).status).toBe(BlkStatus.IoErr); // past the end
      expect((await dz(t, [segment(0, 8).subarray(0, 12)])).status).toBe(BlkStatus.IoErr); // not 16 bytes
      expect((await dz(t, [segment(0, 8, 0x80)])).status).toBe(BlkStatus.Unsupp); // unknown flag
    }
    // The unmap flag is for write zeroes only.
    expect((await dz(BlkType.Discard, [segment(0, 8, 1)])).status).toBe(BlkStatus.Unsupp);
    expect((await dz(BlkType.WriteZeroes, [segment(0, 8, 1)])).status).toBe(BlkStatus.Ok);
  });

  it('reports UNSUPP for discard and write zeroes the driver did not negotiate', async () => {
    const r = rig({ want: ALL_FEATURES & ~(bit(BlkFeature.Discard) | bit(BlkFeature.WriteZeroes)) });
    expect((await request(r, header(BlkType.Discard), { out: [segment(0, 1)] })).status).toBe(
      BlkStatus.Unsupp,
    );
    expect((await request(r, header(BlkType.WriteZeroes), { out: [segment(0, 1)] })).status).toBe(
      BlkStatus.Unsupp,
    );
  });

  it('refuses every kind of write on a read-only disk and changes nothing', async () => {
    const backend = new MemoryBackend({ size: DISK, initial: pattern(4096, 1) });
    const r = rig({ backend, readOnly: true });
    expect((await write(r, 0, new Uint8Array(512))).status).toBe(BlkStatus.IoErr);
    expect((await request(r, header(BlkType.WriteZeroes), { out: [segment(0, 8)] })).status).not.toBe(
      BlkStatus.Ok,
    );
    expect((await request(r, header(BlkType.Discard), { out: [segment(0, 8)] })).status).not.toBe(
      BlkStatus.Ok,
    );
    expect((await request(r, header(BlkType.Flush))).status).toBe(BlkStatus.Ok);
    const rd = await read(r, 0, 4096);
    expect(rd.status).toBe(BlkStatus.Ok);
    expect(rd.data).toEqual(pattern(4096, 1));
  });

  it('answers unknown and unimplemented request types with UNSUPP', async () => {
    const r = rig();
    for (const t of [2, 3, 5, BlkType.GetLifetime, BlkType.SecureErase, 15, 16, 0x8000_0001, 0xffff_ffff]) {
      const res = await request(r, header(t), { inLens: [512] });
      expect(res.status, `type ${t}`).toBe(BlkStatus.Unsupp);
      expect(res.len).toBe(1);
    }
  });

  it('returns a chain with more descriptors than seg_max allows unprocessed', async () => {
    const r = rig({ segMax: 4 });
    const res = await request(r, header(BlkType.In, 0), { inLens: new Array(30).fill(512), indirect: true });
    expect(res.len).toBe(0);
    expect(r.lines.join('\n')).toContain('seg_max');
  });

  it('turns backend failures into IOERR', async () => {
    const d = new DeferredBackend(new MemoryBackend({ size: DISK }));
    const r = rig({ backend: d });
    const q = queue(r, header(BlkType.In, 0), { inLens: [512] });
    r.drv.kick(0, true);
    d.waiting[0].fail(new Error('EIO'));
    await r.dev.drain();
    expect(r.drv.takeUsed(0)).toEqual([{ id: q.head, len: 1 }]);
    expect(q.result().status).toBe(BlkStatus.IoErr);
    expect(r.lines.join('\n')).toContain('EIO');
  });
});

describe('virtio-blk asynchronous completion', () => {
  it('completes requests out of order, each with an interrupt', async () => {
    const mem = new MemoryBackend({ size: DISK, initial: pattern(2048, 11) });
    const d = new DeferredBackend(mem);
    const r = rig({ backend: d });
    const a = queue(r, header(BlkType.In, 0), { inLens: [512] });
    const b = queue(r, header(BlkType.In, 2), { inLens: [512] });
    r.drv.kick(0, true);
    expect(r.dev.requestsInFlight).toBe(2);
    expect(d.waiting.map((w) => w.offset)).toEqual([0, 1024]);
    d.waiting[1].release();
    await new Promise((res) => setTimeout(res, 0));
    expect(r.drv.takeUsed(0)).toEqual([{ id: b.head, len: 513 }]);
    expect(r.irq.level).toBe(true);
    r.drv.ackInterrupt();
    r.drv.setUsedEvent(0, 1); // what virtqueue_enable_cb does after consuming entry 0
    d.waiting[0].release();
    await r.dev.drain();
    expect(r.drv.takeUsed(0)).toEqual([{ id: a.head, len: 513 }]);
    expect(r.irq.level).toBe(true);
    expect(a.result().data).toEqual(pattern(2048, 11).subarray(0, 512));
    expect(b.result().data).toEqual(pattern(2048, 11).subarray(1024, 1536));
  });

  it('writes nothing to guest memory when reset with I/O in flight', async () => {
    const mem = new MemoryBackend({ size: DISK, initial: pattern(4096, 12) });
    const d = new DeferredBackend(mem);
    const r = rig({ backend: d });
    const q0 = r.drv.queues[0];
    const rd = queue(r, header(BlkType.In, 0), { inLens: [512] });
    const wr = queue(r, header(BlkType.Out, 1), { out: [new Uint8Array(512).fill(0xee)] });
    const fl = queue(r, header(BlkType.Flush));
    r.drv.kick(0, true);
    expect(d.waiting).toHaveLength(3);
    // Linux's virtblk_remove/freeze path: reset the device while requests are outstanding.
    r.drv.setReg(R.Status, 0);
    expect(r.drv.status).toBe(0);
    for (const w of d.waiting) w.release();
    await r.dev.drain();
    expect(r.dev.requestsInFlight).toBe(0);
    expect(r.ram.readU16(q0.used + 2)).toBe(0);
    const res = rd.result();
    expect(res.data).toEqual(new Uint8Array(512)); // the read landed nowhere
    expect(res.status).toBe(0); // status byte untouched (still the zero the driver allocated)
    expect(wr.result().status).toBe(0);
    expect(fl.result().status).toBe(0);
    expect(r.irq.level).toBe(false);
    // The device works again after re-initialisation.
    r.drv.init(ALL_FEATURES);
    const p = read(r, 0, 512);
    await new Promise((res2) => setTimeout(res2, 0));
    for (const w of d.waiting.slice(3)) w.release();
    expect((await p).status).toBe(BlkStatus.Ok);
  });

  it('stops a multi-chunk read at a reset, before the next chunk reaches the guest', async () => {
    const mem = new MemoryBackend({ size: DISK, initial: pattern(8192, 13) });
    const d = new DeferredBackend(mem);
    const r = rig({ backend: d, chunkBytes: 512 });
    const rd = queue(r, header(BlkType.In, 0), { inLens: [4096] });
    r.drv.kick(0, true);
    d.waiting[0].release();
    await new Promise((res) => setTimeout(res, 0));
    expect(d.waiting).toHaveLength(2); // the first chunk is copied, the second is waiting
    r.drv.setReg(R.Status, 0);
    d.waiting[1].release();
    await r.dev.drain();
    expect(d.waiting).toHaveLength(2); // no third chunk was started
    expect(rd.result().data.subarray(512)).toEqual(new Uint8Array(4096 - 512));
  });

  it('survives random request headers and chains without throwing', async () => {
    const r = rig({ size: DISK });
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const types = [0, 1, 4, 8, 11, 13, 2, 99];
    for (let i = 0; i < 300; i++) {
      const t = types[rnd(types.length)];
      const sector = rnd(4) === 0 ? 2n ** BigInt(rnd(64)) : BigInt(rnd(CAP + 10));
      const hdr = header(t, sector);
      const outs = Array.from({ length: rnd(3) }, () => pattern(rnd(3) === 0 ? rnd(700) : 512 * rnd(3), i));
      const ins = Array.from({ length: rnd(3) }, () => (rnd(3) === 0 ? rnd(700) : 512 * rnd(3)));
      const split = rnd(2) ? [rnd(16), 0] : [16];
      split[1] = 16 - split[0];
      if (split[0] === 0) split.shift();
      await expect(
        request(r, hdr, {
          out: outs,
          inLens: ins,
          indirect: rnd(2) === 0,
          split: split.filter((n) => n > 0),
        }),
      ).resolves.toBeDefined();
      r.drv.queues[0].free.sort((a, b) => a - b);
    }
    expect(r.drv.status & Status.DeviceNeedsReset).toBe(0);
  });
});
