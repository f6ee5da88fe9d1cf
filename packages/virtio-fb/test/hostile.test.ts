/** Every guest mistake or attack gets an error response, a log line and no exception or host damage. */
import { describe, expect, it } from 'vitest';
import {
  Cmd,
  DISPLAY_INFO_SIZE,
  HDR_SIZE,
  PixelFormat,
  QueueIndex,
  Resp,
  encode,
  readHdr,
} from '../src/protocol.js';
import { PAGE, RAM_BASE, RAM_SIZE, scatteredPages, setup } from './helpers.js';

function ready(opts: Parameters<typeof setup>[0] = {}) {
  const s = setup(opts);
  s.init();
  return s;
}

const create = (s: ReturnType<typeof setup>, resourceId: number, width: number, height: number, format = 2) =>
  s.ctrl(encode.resourceCreate2d({ resourceId, format, width, height })).hdr.type;

function attach(
  s: ReturnType<typeof setup>,
  resourceId: number,
  entries: { addr: number | bigint; length: number }[],
  nrEntries = entries.length,
) {
  return s.ctrl(encode.attachBacking({ resourceId, nrEntries }), HDR_SIZE, [encode.memEntries(entries)]).hdr
    .type;
}

/** A 16x16 resource (1 KiB) with one page of backing. */
function small(s: ReturnType<typeof setup>, id = 1) {
  expect(create(s, id, 16, 16)).toBe(Resp.OkNodata);
  expect(attach(s, id, [{ addr: scatteredPages(1)[0], length: PAGE }])).toBe(Resp.OkNodata);
}

describe('RESOURCE_CREATE_2D', () => {
  it('refuses a huge width*height before allocating anything', () => {
    const s = ready();
    expect(create(s, 1, 0xffffffff, 0xffffffff)).toBe(Resp.ErrOutOfMemory);
    expect(create(s, 2, 0x10000, 0x10000)).toBe(Resp.ErrOutOfMemory); // 16 GiB
    expect(create(s, 3, 0x40000000, 1)).toBe(Resp.ErrOutOfMemory); // 4 GiB in one row
    expect(s.dev.resourceCount).toBe(0);
    expect(s.dev.resourceMemory).toBe(0);
    expect(s.logs.some((l) => l.includes('CREATE_2D of 4294967295x4294967295'))).toBe(true);
  });

  it('caps the total at maxResourceMemory and frees on unref', () => {
    const s = ready({ maxResourceMemory: 1 << 20 });
    expect(create(s, 1, 512, 256)).toBe(Resp.OkNodata); // 512 KiB
    expect(create(s, 2, 512, 255)).toBe(Resp.OkNodata);
    expect(create(s, 3, 512, 2)).toBe(Resp.ErrOutOfMemory);
    expect(create(s, 3, 512, 1)).toBe(Resp.OkNodata); // exactly at the cap
    expect(s.dev.resourceMemory).toBe(1 << 20);
    expect(create(s, 4, 1, 1)).toBe(Resp.ErrOutOfMemory);
    s.ctrl(encode.resourceUnref(1));
    expect(create(s, 4, 512, 256)).toBe(Resp.OkNodata);
  });

  it('caps the number of resources', () => {
    const s = ready({ maxResources: 3 });
    for (let id = 1; id <= 3; id++) expect(create(s, id, 1, 1)).toBe(Resp.OkNodata);
    expect(create(s, 4, 1, 1)).toBe(Resp.ErrOutOfMemory);
  });

  it('refuses id 0, a duplicate id, zero sizes and unknown formats', () => {
    const s = ready();
    expect(create(s, 0, 8, 8)).toBe(Resp.ErrInvalidResourceId);
    expect(create(s, 1, 8, 8)).toBe(Resp.OkNodata);
    expect(create(s, 1, 8, 8)).toBe(Resp.ErrInvalidResourceId);
    expect(create(s, 2, 0, 8)).toBe(Resp.ErrInvalidParameter);
    expect(create(s, 2, 8, 0)).toBe(Resp.ErrInvalidParameter);
    expect(create(s, 2, 8, 8, 0)).toBe(Resp.ErrInvalidParameter);
    expect(create(s, 2, 8, 8, 5)).toBe(Resp.ErrInvalidParameter);
    for (const f of Object.values(PixelFormat)) expect(create(s, 10 + f, 8, 8, f)).toBe(Resp.OkNodata);
  });

  it('answers unknown resources with INVALID_RESOURCE_ID everywhere', () => {
    const s = ready();
    const rect = { x: 0, y: 0, width: 1, height: 1 };
    expect(s.ctrl(encode.resourceUnref(77)).hdr.type).toBe(Resp.ErrInvalidResourceId);
    expect(s.ctrl(encode.resourceDetachBacking(77)).hdr.type).toBe(Resp.ErrInvalidResourceId);
    expect(attach(s, 77, [{ addr: RAM_BASE, length: 4 }])).toBe(Resp.ErrInvalidResourceId);
    expect(s.ctrl(encode.transferToHost2d({ rect, offset: 0, resourceId: 77 })).hdr.type).toBe(
      Resp.ErrInvalidResourceId,
    );
    expect(s.ctrl(encode.resourceFlush({ rect, resourceId: 77 })).hdr.type).toBe(Resp.ErrInvalidResourceId);
    expect(s.ctrl(encode.setScanout({ rect, scanoutId: 0, resourceId: 77 })).hdr.type).toBe(
      Resp.ErrInvalidResourceId,
    );
  });
});

describe('RESOURCE_ATTACH_BACKING', () => {
  it('refuses entries outside guest RAM', () => {
    const s = ready();
    create(s, 1, 16, 16);
    const ok = { addr: scatteredPages(1)[0], length: 512 };
    expect(attach(s, 1, [ok, { addr: RAM_BASE + RAM_SIZE - 100, length: 512 }])).toBe(
      Resp.ErrInvalidParameter,
    );
    expect(attach(s, 1, [{ addr: RAM_BASE - 4096, length: 4096 }])).toBe(Resp.ErrInvalidParameter);
    expect(attach(s, 1, [{ addr: 0, length: 16 }])).toBe(Resp.ErrInvalidParameter);
    expect(attach(s, 1, [{ addr: 2n ** 64n - 4096n, length: 1024 }])).toBe(Resp.ErrInvalidParameter);
    expect(attach(s, 1, [{ addr: 2n ** 53n + BigInt(RAM_BASE), length: 1024 }])).toBe(
      Resp.ErrInvalidParameter,
    );
    expect(s.logs.some((l) => l.includes('outside guest RAM'))).toBe(true);
    // Nothing was kept from the refused attempts.
    expect(attach(s, 1, [ok, { addr: ok.addr + PAGE * 4, length: 512 }])).toBe(Resp.OkNodata);
  });

  it('bounds nr_entries before reading them', () => {
    const s = ready();
    create(s, 1, 16, 16);
    expect(attach(s, 1, [{ addr: RAM_BASE, length: 16 }], 0xffffffff)).toBe(Resp.ErrInvalidParameter);
    expect(attach(s, 1, [{ addr: RAM_BASE, length: 16 }], 16385)).toBe(Resp.ErrInvalidParameter);
    expect(attach(s, 1, [], 0)).toBe(Resp.ErrInvalidParameter);
    // Fewer entries in the chain than nr_entries says.
    expect(attach(s, 1, [{ addr: RAM_BASE, length: 16 }], 100)).toBe(Resp.ErrUnspec);
  });

  it('refuses a backing store much longer than the resource', () => {
    const s = ready();
    create(s, 1, 16, 16); // 1 KiB
    const big = Array.from({ length: 300 }, (_, i) => ({
      addr: RAM_BASE + (16 << 20) + i * PAGE,
      length: PAGE,
    }));
    expect(attach(s, 1, big)).toBe(Resp.ErrInvalidParameter); // 1.2 MiB > 1 KiB + 1 MiB slack
    expect(attach(s, 1, big.slice(0, 200))).toBe(Resp.OkNodata);
  });

  it('refuses a second attach while one is in place', () => {
    const s = ready();
    small(s);
    expect(attach(s, 1, [{ addr: RAM_BASE + (20 << 20), length: PAGE }])).toBe(Resp.ErrUnspec);
  });

  it('caps backing entries across all resources', () => {
    const s = ready({ maxResourceMemory: 1 << 20 });
    // 2^20 entries in all; each attach may carry 16384.
    const entries = Array.from({ length: 16384 }, () => ({ addr: RAM_BASE + (16 << 20), length: 0 }));
    const data = [encode.memEntries(entries)];
    let id = 1;
    for (; id <= 64; id++) {
      create(s, id, 1, 1);
      expect(
        s.ctrl(encode.attachBacking({ resourceId: id, nrEntries: 16384 }), HDR_SIZE, data).hdr.type,
      ).toBe(Resp.OkNodata);
    }
    create(s, id, 1, 1);
    expect(s.ctrl(encode.attachBacking({ resourceId: id, nrEntries: 16384 }), HDR_SIZE, data).hdr.type).toBe(
      Resp.ErrOutOfMemory,
    );
    s.ctrl(encode.resourceUnref(1));
    expect(s.ctrl(encode.attachBacking({ resourceId: id, nrEntries: 16384 }), HDR_SIZE, data).hdr.type).toBe(
      Resp.OkNodata,
    );
  });
});

describe('TRANSFER_TO_HOST_2D', () => {
  it('refuses rects outside the resource, including ones that wrap in 32 bits', () => {
    const s = ready();
    small(s);
    const t = (x: number, y: number, width: number, height: number) =>
      s.ctrl(encode.transferToHost2d({ rect: { x, y, width, height }, offset: 0, resourceId: 1 })).hdr.type;
    expect(t(0, 0, 16, 16)).toBe(Resp.OkNodata);
    expect(t(1, 0, 16, 1)).toBe(Resp.ErrInvalidParameter);
    expect(t(0, 15, 1, 2)).toBe(Resp.ErrInvalidParameter);
    expect(t(0xffffff00, 0, 0x200, 1)).toBe(Resp.ErrInvalidParameter);
    expect(t(0, 0xfffffff0, 1, 0x20)).toBe(Resp.ErrInvalidParameter);
    expect(t(17, 0, 0, 0)).toBe(Resp.ErrInvalidParameter);
    expect(t(16, 16, 0, 0)).toBe(Resp.OkNodata); // empty, at the edge
  });

  it('refuses offsets that read past the backing store', () => {
    const s = ready();
    expect(create(s, 1, 16, 16)).toBe(Resp.OkNodata);
    // Backing of 1000 bytes: less than the 1024 the resource needs.
    expect(
      attach(s, 1, [
        { addr: RAM_BASE + (16 << 20), length: 600 },
        { addr: RAM_BASE + (17 << 20), length: 400 },
      ]),
    ).toBe(Resp.OkNodata);
    const t = (rect: { x: number; y: number; width: number; height: number }, offset: bigint | number) =>
      s.ctrl(encode.transferToHost2d({ rect, offset, resourceId: 1 })).hdr.type;
    expect(t({ x: 0, y: 0, width: 16, height: 15 }, 0)).toBe(Resp.OkNodata); // 960 bytes
    expect(t({ x: 0, y: 0, width: 16, height: 16 }, 0)).toBe(Resp.ErrInvalidParameter);
    expect(t({ x: 0, y: 0, width: 1, height: 1 }, 996)).toBe(Resp.OkNodata);
    expect(t({ x: 0, y: 0, width: 1, height: 1 }, 997)).toBe(Resp.ErrInvalidParameter);
    expect(t({ x: 0, y: 0, width: 1, height: 1 }, 2n ** 63n)).toBe(Resp.ErrInvalidParameter);
    expect(t({ x: 0, y: 0, width: 1, height: 1 }, 2n ** 53n - 1n)).toBe(Resp.ErrInvalidParameter);
    expect(s.logs.some((l) => l.includes('past the backing store'))).toBe(true);
  });

  it('refuses a transfer with no backing', () => {
    const s = ready();
    create(s, 1, 4, 4);
    expect(
      s.ctrl(encode.transferToHost2d({ rect: { x: 0, y: 0, width: 4, height: 4 }, offset: 0, resourceId: 1 }))
        .hdr.type,
    ).toBe(Resp.ErrUnspec);
  });
});

describe('SET_SCANOUT and RESOURCE_FLUSH', () => {
  it('refuses a bad scanout id, a rect outside the resource and an empty rect', () => {
    const s = ready();
    small(s);
    const set = (scanoutId: number, x: number, y: number, width: number, height: number, resourceId = 1) =>
      s.ctrl(encode.setScanout({ rect: { x, y, width, height }, scanoutId, resourceId })).hdr.type;
    expect(set(1, 0, 0, 16, 16)).toBe(Resp.ErrInvalidScanoutId);
    expect(set(16, 0, 0, 16, 16)).toBe(Resp.ErrInvalidScanoutId);
    expect(set(0xffffffff, 0, 0, 0, 0, 0)).toBe(Resp.ErrInvalidScanoutId);
    expect(set(0, 0, 0, 17, 16)).toBe(Resp.ErrInvalidParameter);
    expect(set(0, 8, 8, 9, 8)).toBe(Resp.ErrInvalidParameter);
    expect(set(0, 0xfffffff8, 0, 0x10, 16)).toBe(Resp.ErrInvalidParameter);
    expect(set(0, 0, 0, 0, 16)).toBe(Resp.ErrInvalidParameter);
    expect(s.dev.scanoutInfo).toBeNull();
    expect(s.events.resize).toHaveLength(0);
    expect(set(0, 8, 8, 8, 8)).toBe(Resp.OkNodata);
  });

  it('refuses a flush rect outside the resource', () => {
    const s = ready();
    small(s);
    s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 16, height: 16 }, scanoutId: 0, resourceId: 1 }));
    s.events.damage.length = 0;
    expect(
      s.ctrl(encode.resourceFlush({ rect: { x: 0xfffffff0, y: 0, width: 0x20, height: 1 }, resourceId: 1 }))
        .hdr.type,
    ).toBe(Resp.ErrInvalidParameter);
    expect(s.events.damage).toHaveLength(0);
  });
});

describe('malformed requests', () => {
  it('answers unknown commands with ERR_UNSPEC', () => {
    const s = ready();
    for (const type of [0, 0x0200, 0x0207, 0x010b, 0x010c, 0x1100, 0xdeadbeef]) {
      const b = new Uint8Array(64);
      new DataView(b.buffer).setUint32(0, type, true);
      expect(s.ctrl(b).hdr.type).toBe(Resp.ErrUnspec);
    }
    expect(s.logs.some((l) => l.includes('unknown command 0xdeadbeef'))).toBe(true);
    // Cursor commands belong on the cursor queue and the others on the control queue.
    const move = encode.moveCursor({ scanoutId: 0, x: 1, y: 1 });
    expect(s.ctrl(move).hdr.type).toBe(Resp.ErrUnspec);
    expect(s.cursor(encode.getDisplayInfo(), DISPLAY_INFO_SIZE).hdr.type).toBe(Resp.ErrUnspec);
    expect(s.events.cursorMove).toHaveLength(0);
  });

  it('answers capset queries with an error (there are none)', () => {
    const s = ready();
    const b = new Uint8Array(32);
    new DataView(b.buffer).setUint32(0, Cmd.GetCapsetInfo, true);
    expect(s.ctrl(b, 40).hdr.type).toBe(Resp.ErrInvalidParameter);
  });

  it('answers requests shorter than their command with ERR_UNSPEC and a log line', () => {
    const s = ready();
    const full = encode.resourceCreate2d(
      { resourceId: 1, format: 2, width: 8, height: 8 },
      { flags: 1, fenceId: 3n },
    );
    const r = s.ctrl(full.subarray(0, 36));
    expect(r.hdr).toMatchObject({ type: Resp.ErrUnspec, flags: 1, fenceId: 3n });
    expect(s.dev.resourceCount).toBe(0);
    expect(s.logs.some((l) => l.includes('is 36 bytes, needs 40'))).toBe(true);
    expect(
      s.ctrl(
        encode
          .transferToHost2d({ rect: { x: 0, y: 0, width: 1, height: 1 }, offset: 0, resourceId: 1 })
          .subarray(0, 48),
      ).hdr.type,
    ).toBe(Resp.ErrUnspec);
    expect(s.ctrl(new Uint8Array(10)).hdr.type).toBe(Resp.ErrUnspec);
    expect(s.ctrl(encode.getEdid(0).subarray(0, 24), 1056).hdr.type).toBe(Resp.ErrUnspec);
    expect(s.cursor(encode.moveCursor({ scanoutId: 0, x: 1, y: 1 }).subarray(0, 40), 24).hdr.type).toBe(
      Resp.ErrUnspec,
    );
  });

  it('reads a request split across several readable buffers', () => {
    const s = ready();
    const full = encode.resourceCreate2d({ resourceId: 1, format: 2, width: 8, height: 8 });
    const { head, inAddrs } = s.drv.add(QueueIndex.Control, {
      out: [full.subarray(0, 5), full.subarray(5, 30), full.subarray(30)],
      inLens: [24],
    });
    s.drv.kick(QueueIndex.Control, true);
    expect(s.drv.takeUsed(QueueIndex.Control)).toEqual([{ id: head, len: 24 }]);
    expect(s.ram.readU32(inAddrs[0])).toBe(Resp.OkNodata);
    expect(s.dev.resourceCount).toBe(1);
  });

  it('does not overrun a response buffer that is too small', () => {
    const s = ready();
    // Room for the header only: an error header instead of a truncated display info.
    const r = s.ctrl(encode.getDisplayInfo(), 24);
    expect(r.len).toBe(24);
    expect(r.hdr.type).toBe(Resp.ErrUnspec);
    const { head, inAddrs } = s.drv.add(QueueIndex.Control, { out: [encode.getDisplayInfo()], inLens: [8] });
    s.ram.writeU32(inAddrs[0], 0xaaaaaaaa);
    s.drv.kick(QueueIndex.Control, true);
    expect(s.drv.takeUsed(QueueIndex.Control)).toEqual([{ id: head, len: 0 }]);
    expect(s.ram.readU32(inAddrs[0])).toBe(0xaaaaaaaa);
  });

  it('limits how much one guest can log', () => {
    const s = ready();
    const before = s.logs.length;
    for (let i = 0; i < 200; i++) s.ctrl(encode.resourceUnref(999));
    expect(s.logs.length - before).toBeLessThanOrEqual(65);
  });

  it('survives a throwing front end', () => {
    const s = ready();
    s.dev.on('resize', () => {
      throw new Error('front end bug');
    });
    small(s);
    expect(
      s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 16, height: 16 }, scanoutId: 0, resourceId: 1 }))
        .hdr.type,
    ).toBe(Resp.OkNodata);
    expect(s.needsReset()).toBe(false);
    expect(s.logs.some((l) => l.includes("'resize' listener threw"))).toBe(true);
  });

  it('never throws or needs a reset under random requests', () => {
    // 3000 requests back to back, each answered at once: the per-turn slice is tested in turns.test.ts.
    const s = ready({ maxResourceMemory: 4 << 20, turnLimits: { requests: Infinity, bytes: Infinity } });
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const types = [0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x10a, 0x300, 0x301, 0x999];
    const small32 = () => [0, 1, 2, 3, 16, 64, 0xffffffff, 0x80000000][rnd() % 8];
    for (let i = 0; i < 3000; i++) {
      const len = [0, 8, 24, 32, 40, 48, 56, 64, 96][rnd() % 9];
      const b = new Uint8Array(len);
      const dv = new DataView(b.buffer);
      if (len >= 4) dv.setUint32(0, types[rnd() % types.length], true);
      if (len >= 8) dv.setUint32(4, rnd() & 3, true);
      for (let off = 24; off + 4 <= len; off += 4)
        dv.setUint32(off, rnd() % 3 === 0 ? rnd() : small32(), true);
      // Some entries that point into RAM.
      if (len >= 48 && rnd() % 4 === 0)
        dv.setUint32(32, (RAM_BASE + (rnd() % (RAM_SIZE - 0x10000))) >>> 0, true);
      const q = rnd() % 5 === 0 ? QueueIndex.Cursor : QueueIndex.Control;
      const resp = [0, 8, 24, 408, 1056][rnd() % 5];
      s.send(q, b, resp);
    }
    expect(s.needsReset()).toBe(false);
    expect(s.dev.resourceMemory).toBeLessThanOrEqual(4 << 20);
    expect(s.logs.some((l) => l.includes('internal error'))).toBe(false);
    s.dev.snapshot();
  });

  it('a chain with a bad descriptor is returned empty by the queue, and the device goes on', () => {
    const s = ready();
    const q = s.drv.queues[QueueIndex.Control];
    const id = q.free.shift()!;
    s.drv.writeDesc(q.desc, id, RAM_BASE + RAM_SIZE - 8, 64, 0, 0); // runs past RAM
    s.drv.publish(QueueIndex.Control, id);
    const r = s.ctrl(encode.getDisplayInfo(), DISPLAY_INFO_SIZE);
    expect(readHdr(new DataView(r.bytes.buffer)).type).toBe(Resp.OkDisplayInfo);
    expect(s.needsReset()).toBe(false);
  });
});
