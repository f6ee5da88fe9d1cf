import { describe, expect, it, vi } from 'vitest';
import { Feature, MmioReg as R, bit } from '@virtio-desktop/virtio-core';
import { BlkConfig, BlkFeature, BlkStatus, BlkType, MemoryBackend } from '../src/index.js';
import { header, pattern, read, request, rig, same, segment, write } from './helpers.js';

const cfg32 = (r: ReturnType<typeof rig>, off: number): number => r.t.read(R.Config + off, 4);

describe('virtio-blk identity and configuration', () => {
  it('is device 2 and offers the block features Linux uses', () => {
    const r = rig({ size: 8 << 20, serial: 'disk0' });
    expect(r.drv.reg(R.DeviceId)).toBe(2);
    const f = r.drv.deviceFeatures();
    for (const b of [
      BlkFeature.SegMax,
      BlkFeature.BlkSize,
      BlkFeature.Flush,
      BlkFeature.Discard,
      BlkFeature.WriteZeroes,
    ])
      expect(f & bit(b)).toBe(bit(b));
    expect(f & bit(BlkFeature.Ro)).toBe(0n);
    expect(f & bit(Feature.Version1)).toBeTruthy();
    r.drv.setReg(R.QueueSel, 0);
    expect(r.drv.reg(R.QueueNumMax)).toBe(256);
    r.drv.setReg(R.QueueSel, 1);
    expect(r.drv.reg(R.QueueNumMax)).toBe(0);
  });

  it('lays out virtio_blk_config as in the Linux header', () => {
    const r = rig({ size: 8 << 20 });
    expect(cfg32(r, BlkConfig.Capacity)).toBe((8 << 20) / 512);
    expect(cfg32(r, BlkConfig.Capacity + 4)).toBe(0);
    expect(cfg32(r, BlkConfig.SegMax)).toBe(254);
    expect(cfg32(r, BlkConfig.BlkSize)).toBe(512);
    expect(r.t.read(R.Config + BlkConfig.NumQueues, 2)).toBe(1);
    expect(cfg32(r, BlkConfig.MaxDiscardSectors)).toBe(1 << 22);
    expect(cfg32(r, BlkConfig.MaxDiscardSeg)).toBe(32);
    expect(cfg32(r, BlkConfig.DiscardSectorAlignment)).toBe(8);
    expect(cfg32(r, BlkConfig.MaxWriteZeroesSectors)).toBe(1 << 22);
    expect(cfg32(r, BlkConfig.MaxWriteZeroesSeg)).toBe(32);
    expect(r.t.read(R.Config + BlkConfig.WriteZeroesMayUnmap, 1)).toBe(1);
    // Byte-wise reads agree with word reads (Linux reads u64 capacity as two u32 halves, u8 fields bytewise).
    expect(r.t.read(R.Config + BlkConfig.Capacity + 1, 1)).toBe(((8 << 20) / 512) >> 8);
    // Writes are ignored: nothing in this config is writable.
    r.t.write(R.Config + BlkConfig.Capacity, 4, 1);
    expect(cfg32(r, BlkConfig.Capacity)).toBe((8 << 20) / 512);
  });

  it('reports a 64-bit capacity and honours blockSize', () => {
    const big = new MemoryBackend({ size: 2 ** 42 + 4096 });
    const r = rig({ backend: big, blockSize: 4096 });
    const cap = (2 ** 42 + 4096) / 512;
    expect(cfg32(r, BlkConfig.Capacity)).toBe(cap >>> 0);
    expect(cfg32(r, BlkConfig.Capacity + 4)).toBe(Math.floor(cap / 2 ** 32));
    expect(cfg32(r, BlkConfig.BlkSize)).toBe(4096);
    // A backend that is not a whole number of blocks exposes whole blocks only.
    const odd = rig({ size: 4096 * 3 + 1536, blockSize: 4096 });
    expect(cfg32(odd, BlkConfig.Capacity)).toBe(24);
    expect(() => rig({ blockSize: 1000 })).toThrow(/blockSize/);
    expect(() => rig({ blockSize: 8192 })).toThrow(/blockSize/);
    expect(() => rig({ serial: 'x'.repeat(21) })).toThrow(/serial/);
  });

  it('offers RO and no discard/write-zeroes on a read-only disk', () => {
    for (const r of [
      rig({ readOnly: true }),
      rig({ backend: new MemoryBackend({ size: 4096, readOnly: true }) }),
    ]) {
      const f = r.drv.deviceFeatures();
      expect(f & bit(BlkFeature.Ro)).toBeTruthy();
      expect(f & bit(BlkFeature.Discard)).toBe(0n);
      expect(f & bit(BlkFeature.WriteZeroes)).toBe(0n);
      expect(r.dev.readOnly).toBe(true);
    }
  });
});

describe('virtio-blk requests', () => {
  for (const indirect of [false, true]) {
    it(`writes and reads back sectors (${indirect ? 'indirect' : 'direct'} chains)`, async () => {
      const r = rig();
      const data = pattern(4096, 7);
      const w = await write(r, 8, data, { indirect });
      expect(w.status).toBe(BlkStatus.Ok);
      expect(w.len).toBe(1);
      const rd = await read(r, 8, 4096, { indirect });
      expect(rd.status).toBe(BlkStatus.Ok);
      expect(rd.len).toBe(4097);
      expect(rd.data).toEqual(data);
      expect(r.irq.level).toBe(true);
      expect(r.dev.stats).toMatchObject({ reads: 1, writes: 1, bytesRead: 4096, bytesWritten: 4096 });
    });
  }

  it('accepts a header split over descriptors and data scattered over many segments', async () => {
    const r = rig();
    const data = pattern(3 * 512, 3);
    const w = await request(r, header(BlkType.Out, 2), {
      split: [1, 7, 8],
      out: [data.subarray(0, 100), data.subarray(100, 1000), data.subarray(1000)],
    });
    expect(w.status).toBe(BlkStatus.Ok);
    const rd = await request(r, header(BlkType.In, 2), {
      split: [4, 12],
      inLens: [512, 13, 1011],
      indirect: true,
    });
    expect(rd.status).toBe(BlkStatus.Ok);
    expect(rd.data).toEqual(data);
  });

  it('takes the status from the last writable byte when it shares a buffer with the data', async () => {
    const r = rig();
    await write(r, 0, pattern(512, 9));
    // One writable buffer of 513 bytes: 512 data + status, as a driver may legally build it.
    const { head, inAddrs } = r.drv.add(0, { out: [header(BlkType.In, 0)], inLens: [513] });
    r.drv.kick(0, true);
    await r.dev.drain();
    expect(r.drv.takeUsed(0)).toEqual([{ id: head, len: 513 }]);
    expect(r.ram.view(inAddrs[0], 512)).toEqual(pattern(512, 9));
    expect(r.ram.view(inAddrs[0] + 512, 1)![0]).toBe(BlkStatus.Ok);
  });

  it('moves requests larger than its chunk size in pieces', async () => {
    const r = rig({ size: 4 << 20, chunkBytes: 4096 });
    const data = pattern(1 << 20, 5);
    expect((await write(r, 100, data)).status).toBe(BlkStatus.Ok);
    const rd = await read(r, 100, 1 << 20);
    expect(rd.status).toBe(BlkStatus.Ok);
    expect(same(rd.data, data)).toBe(true);
  });

  it('flushes the backend', async () => {
    const backend = new MemoryBackend({ size: 1 << 20 });
    const spy = vi.spyOn(backend, 'flush');
    const r = rig({ backend });
    const res = await request(r, header(BlkType.Flush));
    expect(res.status).toBe(BlkStatus.Ok);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('answers GET_ID with the NUL-padded serial', async () => {
    const r = rig({ serial: 'vdesk-0001' });
    const res = await request(r, header(BlkType.GetId), { inLens: [20] });
    expect(res.status).toBe(BlkStatus.Ok);
    expect(res.len).toBe(21);
    expect(new TextDecoder().decode(res.data.subarray(0, 10))).toBe('vdesk-0001');
    expect([...res.data.subarray(10)]).toEqual(new Array(10).fill(0));
    const full = rig({ serial: 'ABCDEFGHIJKLMNOPQRST' });
    const f = await request(full, header(BlkType.GetId), { inLens: [20] });
    expect(new TextDecoder().decode(f.data)).toBe('ABCDEFGHIJKLMNOPQRST');
  });

  it('zeroes ranges with WRITE_ZEROES and accepts DISCARD', async () => {
    const r = rig();
    await write(r, 0, pattern(8192, 2));
    const wz = await request(r, header(BlkType.WriteZeroes), { out: [segment(1, 2, 1), segment(6, 1)] });
    expect(wz.status).toBe(BlkStatus.Ok);
    const rd = await read(r, 0, 8192);
    const expected = pattern(8192, 2);
    expected.fill(0, 512, 1536);
    expected.fill(0, 3072, 3584);
    expect(rd.data).toEqual(expected);
    const d = await request(r, header(BlkType.Discard), { out: [segment(0, 16)] });
    expect(d.status).toBe(BlkStatus.Ok);
    expect(r.dev.stats.discards).toBe(1);
  });

  it('falls back to writing zero buffers when the backend has no writeZeroes', async () => {
    const inner = new MemoryBackend({ size: 1 << 20 });
    const backend = {
      size: inner.size,
      readOnly: false,
      read: inner.read.bind(inner),
      write: vi.fn(inner.write.bind(inner)),
      flush: inner.flush.bind(inner),
    };
    const r = rig({ backend, chunkBytes: 1024 });
    await write(r, 0, pattern(4096, 4));
    backend.write.mockClear();
    expect((await request(r, header(BlkType.WriteZeroes), { out: [segment(0, 8)] })).status).toBe(
      BlkStatus.Ok,
    );
    expect(backend.write).toHaveBeenCalledTimes(4);
    expect((await read(r, 0, 4096)).data).toEqual(new Uint8Array(4096));
    // Discard without backend support is a successful no-op.
    expect((await request(r, header(BlkType.Discard), { out: [segment(0, 8)] })).status).toBe(BlkStatus.Ok);
  });
});
