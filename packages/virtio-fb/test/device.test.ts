import { describe, expect, it } from 'vitest';
import { Feature, MmioReg as R, bit } from '@virtio-desktop/virtio-core';
import { parseEdid } from '../src/edid.js';
import {
  ConfigOffset,
  DISPLAY_INFO_SIZE,
  EDID_RESP_SIZE,
  Flag,
  GPU_EVENT_DISPLAY,
  GpuFeature,
  HDR_SIZE,
  PixelFormat,
  QueueIndex,
  Resp,
  decodeDisplayInfo,
  decodeEdidResp,
  encode,
} from '../src/protocol.js';
import { PAGE, scatter, scatteredPages, setup } from './helpers.js';

/** Linux's probe: num_scanouts/num_capsets, DRIVER_OK, GET_EDID per scanout, GET_DISPLAY_INFO. */
function probe(s: ReturnType<typeof setup>) {
  const edid = s.ctrl(encode.getEdid(0), EDID_RESP_SIZE);
  const info = s.ctrl(encode.getDisplayInfo(), DISPLAY_INFO_SIZE);
  return { edid, info };
}

/** A B8G8R8X8 pixel whose bytes encode its position, so misplaced rows or columns show. */
function pattern(x: number, y: number): [number, number, number, number] {
  return [(x * 7 + y) & 0xff, (y * 3) & 0xff, (x + 100) & 0xff, 0x55]; // B, G, R, X
}

/** Create a dumb-buffer-like resource with a scattered backing filled by `pattern`, as fbdev does. */
function fbdevResource(s: ReturnType<typeof setup>, id: number, w: number, h: number, firstPage = 0) {
  expect(
    s.ctrl(encode.resourceCreate2d({ resourceId: id, format: PixelFormat.B8G8R8X8, width: w, height: h })).hdr
      .type,
  ).toBe(Resp.OkNodata);
  const pitch = w * 4;
  const size = Math.ceil((pitch * h) / PAGE) * PAGE;
  // Uneven entries (each in its own page, out of order), so rows straddle entries mid-pixel.
  const sizes = [PAGE, 1000, 3096, 4093, 3];
  const lens: number[] = [];
  for (let left = size, i = 0; left > 0; i++) {
    lens.push(Math.min(sizes[i % sizes.length], left));
    left -= lens[i];
  }
  const pages = scatteredPages(lens.length, firstPage);
  const entries = lens.map((length, i) => ({ addr: pages[i], length }));
  const img = new Uint8Array(size);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.set(pattern(x, y), y * pitch + x * 4);
  scatter(s.ram, entries, img);
  const r = s.ctrl(encode.attachBacking({ resourceId: id, nrEntries: entries.length }), 24, [
    encode.memEntries(entries),
  ]);
  expect(r.hdr.type).toBe(Resp.OkNodata);
  return { pitch, entries };
}

function rgbaAt(rgba: Uint8Array, w: number, x: number, y: number): number[] {
  return [...rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 4)];
}

describe('probe', () => {
  it('offers EDID only, one scanout and no capsets', () => {
    const s = setup();
    expect(s.t.read(R.DeviceId, 4)).toBe(16);
    const f = s.drv.deviceFeatures();
    expect(f & 0xffffffn).toBe(bit(GpuFeature.Edid));
    expect(f & bit(Feature.Version1)).toBeTruthy();
    s.init(bit(GpuFeature.Edid) | bit(GpuFeature.Virgl) | bit(GpuFeature.ResourceBlob));
    expect(s.drv.negotiated & 0xffffffn).toBe(bit(GpuFeature.Edid));
    expect(s.cfg(ConfigOffset.EventsRead)).toBe(0);
    expect(s.cfg(ConfigOffset.NumScanouts)).toBe(1);
    expect(s.cfg(ConfigOffset.NumCapsets)).toBe(0);
    expect(s.t.read(R.Config + ConfigOffset.NumScanouts, 1)).toBe(1);
  });

  it('answers GET_EDID and GET_DISPLAY_INFO with the configured size', () => {
    const s = setup({ width: 1280, height: 800 });
    s.init();
    const { edid, info } = probe(s);
    expect(edid.hdr.type).toBe(Resp.OkEdid);
    expect(edid.len).toBe(EDID_RESP_SIZE);
    const block = decodeEdidResp(edid.bytes);
    expect(block.length).toBe(128);
    const e = parseEdid(block)!;
    expect(e.headerOk && e.checksumOk).toBe(true);
    expect(e.version).toBe('1.4');
    expect(e.preferred).toMatchObject({ width: 1280, height: 800 });
    expect(e.monitorName).toBe('virtio-desk');
    expect(info.hdr.type).toBe(Resp.OkDisplayInfo);
    expect(info.len).toBe(DISPLAY_INFO_SIZE);
    const modes = decodeDisplayInfo(info.bytes);
    expect(modes[0]).toEqual({ rect: { x: 0, y: 0, width: 1280, height: 800 }, enabled: true, flags: 0 });
    expect(modes.slice(1).some((m) => m.enabled)).toBe(false);
    expect(s.needsReset()).toBe(false);
  });
});

describe('fbdev-style scanout', () => {
  it('copies a sub-rect from scattered pages, flushes it, and shows exactly those pixels', () => {
    const s = setup();
    s.init();
    probe(s);
    const W = 200;
    const H = 100;
    const { pitch } = fbdevResource(s, 1, W, H);
    expect(
      s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: W, height: H }, scanoutId: 0, resourceId: 1 }))
        .hdr.type,
    ).toBe(Resp.OkNodata);
    expect(s.events.resize).toEqual([{ width: W, height: H }]);
    // Nothing transferred yet: the scanout is black.
    expect(rgbaAt(s.dev.snapshot().rgba, W, 50, 20)).toEqual([0, 0, 0, 255]);

    const rect = { x: 13, y: 7, width: 51, height: 20 };
    const offset = rect.x * 4 + rect.y * pitch; // virtio_gpu_update_dumb_bo
    expect(s.ctrl(encode.transferToHost2d({ rect, offset, resourceId: 1 })).hdr.type).toBe(Resp.OkNodata);
    s.events.damage.length = 0;
    expect(s.ctrl(encode.resourceFlush({ rect, resourceId: 1 })).hdr.type).toBe(Resp.OkNodata);

    const snap = s.dev.snapshot();
    expect(snap.width).toBe(W);
    expect(snap.height).toBe(H);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const inside = x >= rect.x && x < rect.x + rect.width && y >= rect.y && y < rect.y + rect.height;
        const [b, g, r] = pattern(x, y);
        expect(rgbaAt(snap.rgba, W, x, y)).toEqual(inside ? [r, g, b, 255] : [0, 0, 0, 255]);
      }

    expect(s.events.damage).toHaveLength(1);
    const d = s.events.damage[0];
    expect({ x: d.x, y: d.y, width: d.width, height: d.height }).toEqual(rect);
    expect(d.format).toBe(PixelFormat.B8G8R8X8);
    expect(d.stride).toBe(pitch);
    // Resources live in shared memory: a front end's worker may read the scanout itself, later.
    expect((d as unknown as { pixels: Uint8Array }).pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
    const [b, g, r] = pattern(rect.x + 2, rect.y + 3);
    expect(rgbaAt(d.rgba, rect.width, 2, 3)).toEqual([r, g, b, 255]);
  });

  it('transfers full-width rects in one run and reports the scanout info', () => {
    const s = setup();
    s.init();
    const W = 64;
    const H = 40;
    const { pitch } = fbdevResource(s, 3, W, H);
    s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: W, height: H }, scanoutId: 0, resourceId: 3 }));
    const rect = { x: 0, y: 10, width: W, height: 30 };
    expect(s.ctrl(encode.transferToHost2d({ rect, offset: 10 * pitch, resourceId: 3 })).hdr.type).toBe(
      Resp.OkNodata,
    );
    const snap = s.dev.snapshot();
    const [b, g, r] = pattern(W - 1, H - 1);
    expect(rgbaAt(snap.rgba, W, W - 1, H - 1)).toEqual([r, g, b, 255]);
    expect(rgbaAt(snap.rgba, W, 5, 9)).toEqual([0, 0, 0, 255]);
    expect(s.dev.scanoutInfo).toEqual({
      resourceId: 3,
      format: PixelFormat.B8G8R8X8,
      rect: { x: 0, y: 0, width: W, height: H },
    });
  });

  it('clips damage to a scanout that shows part of its resource and reports scanout coordinates', () => {
    const s = setup();
    s.init();
    fbdevResource(s, 1, 200, 100);
    s.ctrl(
      encode.setScanout({ rect: { x: 20, y: 10, width: 100, height: 50 }, scanoutId: 0, resourceId: 1 }),
    );
    s.ctrl(
      encode.transferToHost2d({ rect: { x: 0, y: 0, width: 200, height: 100 }, offset: 0, resourceId: 1 }),
    );
    s.events.damage.length = 0;
    s.ctrl(encode.resourceFlush({ rect: { x: 0, y: 0, width: 40, height: 30 }, resourceId: 1 }));
    expect(s.events.damage.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual([
      { x: 0, y: 0, width: 20, height: 20 },
    ]);
    // Outside the scanout: no damage at all.
    s.ctrl(encode.resourceFlush({ rect: { x: 150, y: 0, width: 50, height: 100 }, resourceId: 1 }));
    expect(s.events.damage).toHaveLength(1);
    const snap = s.dev.snapshot();
    expect(snap.width).toBe(100);
    const [b, g, r] = pattern(20, 10);
    expect(rgbaAt(snap.rgba, 100, 0, 0)).toEqual([r, g, b, 255]);
  });

  it('emits the damage of a batch of flushes after their responses, without repeating covered rectangles', () => {
    const s = setup();
    s.init();
    fbdevResource(s, 1, 64, 64);
    s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 64, height: 64 }, scanoutId: 0, resourceId: 1 }));
    s.ctrl(
      encode.transferToHost2d({ rect: { x: 0, y: 0, width: 64, height: 64 }, offset: 0, resourceId: 1 }),
    );
    s.events.damage.length = 0;
    s.drv.takeUsed(QueueIndex.Control);
    // How many of the batch's answers the guest could already see when each damage event ran.
    const q = s.drv.queues[QueueIndex.Control];
    const used = () => (s.ram.readU16(q.used + 2) - q.lastUsed) & 0xffff;
    const seen: number[] = [];
    s.dev.on('damage', () => seen.push(used()));
    const flushes = [
      { x: 0, y: 0, width: 32, height: 32 },
      { x: 4, y: 4, width: 8, height: 8 }, // inside the first: adds nothing
      { x: 40, y: 40, width: 10, height: 10 },
      { x: 0, y: 0, width: 32, height: 32 }, // the first again
    ];
    for (const rect of flushes)
      s.drv.add(QueueIndex.Control, {
        out: [encode.resourceFlush({ rect, resourceId: 1 })],
        inLens: [HDR_SIZE],
      });
    s.drv.kick(QueueIndex.Control, true);
    expect(s.events.damage.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual([
      flushes[0],
      flushes[2],
    ]);
    expect(seen).toEqual([4, 4]);
    expect(s.drv.takeUsed(QueueIndex.Control)).toHaveLength(4);
  });

  it('flushing a resource that is not shown emits nothing', () => {
    const s = setup();
    s.init();
    fbdevResource(s, 1, 32, 32);
    expect(
      s.ctrl(encode.resourceFlush({ rect: { x: 0, y: 0, width: 32, height: 32 }, resourceId: 1 })).hdr.type,
    ).toBe(Resp.OkNodata);
    expect(s.events.damage).toHaveLength(0);
  });

  it('disables the scanout on SET_SCANOUT with resource 0 and on UNREF of the shown resource', () => {
    const s = setup();
    s.init();
    fbdevResource(s, 1, 64, 64);
    fbdevResource(s, 2, 64, 64, 40);
    const show = (id: number) =>
      s.ctrl(
        encode.setScanout({ rect: { x: 0, y: 0, width: 64, height: 64 }, scanoutId: 0, resourceId: id }),
      );
    show(1);
    expect(
      s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 0, height: 0 }, scanoutId: 0, resourceId: 0 }))
        .hdr.type,
    ).toBe(Resp.OkNodata);
    expect(s.dev.scanoutInfo).toBeNull();
    expect(s.events.resize.at(-1)).toEqual({ width: 0, height: 0 });

    show(2);
    expect(s.events.resize.at(-1)).toEqual({ width: 64, height: 64 });
    // Page flip to a same-size buffer: no resize.
    show(1);
    expect(s.events.resize).toHaveLength(3);
    expect(s.dev.resourceMemory).toBe(2 * 64 * 64 * 4);
    expect(s.ctrl(encode.resourceUnref(1)).hdr.type).toBe(Resp.OkNodata);
    expect(s.dev.scanoutInfo).toBeNull();
    expect(s.events.resize.at(-1)).toEqual({ width: 0, height: 0 });
    expect(s.dev.snapshot()).toEqual({ width: 0, height: 0, rgba: new Uint8Array(0) });
    expect(s.dev.resourceMemory).toBe(64 * 64 * 4);
    // The unref dropped the backing too: the id is free and nothing refers to it.
    expect(
      s.ctrl(encode.transferToHost2d({ rect: { x: 0, y: 0, width: 1, height: 1 }, offset: 0, resourceId: 1 }))
        .hdr.type,
    ).toBe(Resp.ErrInvalidResourceId);
    expect(s.ctrl(encode.resourceUnref(2)).hdr.type).toBe(Resp.OkNodata);
    expect(s.dev.resourceCount).toBe(0);
  });

  it('detaches backing: transfers then fail until a new backing is attached', () => {
    const s = setup();
    s.init();
    const { entries } = fbdevResource(s, 1, 16, 16);
    expect(s.ctrl(encode.resourceDetachBacking(1)).hdr.type).toBe(Resp.OkNodata);
    const rect = { x: 0, y: 0, width: 16, height: 16 };
    expect(s.ctrl(encode.transferToHost2d({ rect, offset: 0, resourceId: 1 })).hdr.type).toBe(Resp.ErrUnspec);
    expect(s.ctrl(encode.resourceDetachBacking(1)).hdr.type).toBe(Resp.ErrUnspec);
    const again = s.ctrl(encode.attachBacking({ resourceId: 1, nrEntries: entries.length }), 24, [
      encode.memEntries(entries),
    ]);
    expect(again.hdr.type).toBe(Resp.OkNodata);
    expect(s.ctrl(encode.transferToHost2d({ rect, offset: 0, resourceId: 1 })).hdr.type).toBe(Resp.OkNodata);
  });

  it('reads the backing at transfer time, not at attach time', () => {
    const s = setup();
    s.init();
    const { entries } = fbdevResource(s, 1, 8, 8);
    s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 8, height: 8 }, scanoutId: 0, resourceId: 1 }));
    s.ram.write(entries[0].addr, new Uint8Array([1, 2, 3, 4]));
    s.ctrl(encode.transferToHost2d({ rect: { x: 0, y: 0, width: 1, height: 1 }, offset: 0, resourceId: 1 }));
    expect(rgbaAt(s.dev.snapshot().rgba, 8, 0, 0)).toEqual([3, 2, 1, 255]);
  });
});

describe('fences', () => {
  it('echoes FENCE, fence_id and ctx_id on fenced requests and only on those', () => {
    const s = setup();
    s.init();
    const r = s.ctrl(
      encode.resourceCreate2d(
        { resourceId: 1, format: 1, width: 4, height: 4 },
        { flags: Flag.Fence, fenceId: 123456789012n, ctxId: 0 },
      ),
    );
    expect(r.hdr).toEqual({
      type: Resp.OkNodata,
      flags: Flag.Fence,
      fenceId: 123456789012n,
      ctxId: 0,
      ringIdx: 0,
    });
    // Errors are fenced too, or Linux would wait on that fence forever.
    const e = s.ctrl(
      encode.resourceCreate2d(
        { resourceId: 1, format: 1, width: 4, height: 4 },
        { flags: Flag.Fence, fenceId: 5n },
      ),
    );
    expect(e.hdr).toMatchObject({ type: Resp.ErrInvalidResourceId, flags: Flag.Fence, fenceId: 5n });
    const p = s.ctrl(encode.getDisplayInfo({ fenceId: 99n }), DISPLAY_INFO_SIZE);
    expect(p.hdr.flags).toBe(0);
    expect(p.hdr.fenceId).toBe(0n);
  });
});

describe('cursor', () => {
  function cursorResource(s: ReturnType<typeof setup>, id: number) {
    s.ctrl(encode.resourceCreate2d({ resourceId: id, format: PixelFormat.B8G8R8A8, width: 64, height: 64 }));
    const pages = scatteredPages(4, 200);
    const entries = pages.map((addr) => ({ addr, length: PAGE }));
    const img = new Uint8Array(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++)
      img.set([i & 0xff, (i >> 8) & 0xff, 0x80, i % 3 === 0 ? 0 : 0xff], i * 4);
    scatter(s.ram, entries, img);
    s.ctrl(encode.attachBacking({ resourceId: id, nrEntries: 4 }), 24, [encode.memEntries(entries)]);
    return img;
  }

  it('uploads with a fenced transfer, then UPDATE_CURSOR shows it at the hot spot', () => {
    const s = setup();
    s.init();
    const img = cursorResource(s, 9);
    const t = s.ctrl(
      encode.transferToHost2d(
        { rect: { x: 0, y: 0, width: 64, height: 64 }, offset: 0, resourceId: 9 },
        { flags: Flag.Fence, fenceId: 42n },
      ),
    );
    expect(t.hdr).toMatchObject({ type: Resp.OkNodata, flags: Flag.Fence, fenceId: 42n });
    // Linux's cursor buffers have no response part.
    const u = s.cursor(
      encode.updateCursor({ scanoutId: 0, x: 100, y: 200, resourceId: 9, hotX: 3, hotY: 4 }),
    );
    expect(u.len).toBe(0);
    expect(s.events.cursor).toHaveLength(1);
    const c = s.events.cursor[0];
    expect(c.hotX).toBe(3);
    expect(c.hotY).toBe(4);
    expect(c.image).toHaveLength(64 * 64 * 4);
    for (const i of [0, 1, 3, 64, 4095]) {
      const [b, g, r, a] = img.subarray(i * 4, i * 4 + 4);
      expect([...c.image!.subarray(i * 4, i * 4 + 4)]).toEqual([r, g, b, a]);
    }
    expect(s.events.cursorMove.at(-1)).toEqual({ x: 100, y: 200, visible: true });
    expect(s.dev.cursor).toMatchObject({ hotX: 3, hotY: 4, x: 100, y: 200, visible: true });
  });

  it('answers a fenced UPDATE_CURSOR that has a response buffer', () => {
    const s = setup();
    s.init();
    cursorResource(s, 9);
    const u = s.cursor(
      encode.updateCursor(
        { scanoutId: 0, x: 1, y: 2, resourceId: 9, hotX: 0, hotY: 0 },
        { flags: Flag.Fence, fenceId: 7n },
      ),
      24,
    );
    expect(u.len).toBe(24);
    expect(u.hdr).toMatchObject({ type: Resp.OkNodata, flags: Flag.Fence, fenceId: 7n });
    expect(s.events.cursor).toHaveLength(1);
  });

  it('moves (also off the top-left edge) and hides with resource 0', () => {
    const s = setup();
    s.init();
    cursorResource(s, 9);
    s.cursor(encode.updateCursor({ scanoutId: 0, x: 0, y: 0, resourceId: 9, hotX: 0, hotY: 0 }));
    s.cursor(encode.moveCursor({ scanoutId: 0, x: -5, y: 300 }));
    expect(s.events.cursorMove.at(-1)).toEqual({ x: -5, y: 300, visible: true });
    expect(s.events.cursor).toHaveLength(1);
    s.cursor(encode.updateCursor({ scanoutId: 0, x: 7, y: 8, resourceId: 0, hotX: 0, hotY: 0 }));
    expect(s.events.cursor.at(-1)).toEqual({ image: null, hotX: 0, hotY: 0 });
    expect(s.events.cursorMove.at(-1)).toEqual({ x: 7, y: 8, visible: false });
    s.cursor(encode.moveCursor({ scanoutId: 0, x: 9, y: 9 }));
    expect(s.events.cursorMove.at(-1)).toEqual({ x: 9, y: 9, visible: false });
  });

  it('clamps the hot spot and keeps the image after the resource is freed', () => {
    const s = setup();
    s.init();
    cursorResource(s, 9);
    s.cursor(encode.updateCursor({ scanoutId: 0, x: 0, y: 0, resourceId: 9, hotX: 1000, hotY: 0xffffffff }));
    expect(s.events.cursor[0]).toMatchObject({ hotX: 63, hotY: 63 });
    s.ctrl(encode.resourceUnref(9));
    expect(s.dev.cursor.visible).toBe(true);
  });
});

describe('host resize request', () => {
  it('raises a config interrupt, then the re-probe sees the new size in display info and EDID', () => {
    const s = setup({ width: 1280, height: 800 });
    s.init();
    probe(s);
    s.drv.ackInterrupt();
    const gen = s.drv.reg(R.ConfigGeneration);
    expect(s.dev.requestSize(1920, 1080)).toBe(true);
    expect(s.configInterrupt()).toBe(true);
    expect(s.irq.level).toBe(true);
    expect(s.drv.reg(R.ConfigGeneration)).not.toBe(gen);
    expect(s.cfg(ConfigOffset.EventsRead) & GPU_EVENT_DISPLAY).toBe(GPU_EVENT_DISPLAY);
    expect(s.events.displayChange).toEqual([{ width: 1920, height: 1080 }]);

    // virtio_gpu_config_changed_work_func: GET_EDID, GET_DISPLAY_INFO, then events_clear.
    const { edid, info } = probe(s);
    const e = parseEdid(decodeEdidResp(edid.bytes))!;
    expect(e.checksumOk).toBe(true);
    expect(e.preferred).toMatchObject({ width: 1920, height: 1080 });
    expect(decodeDisplayInfo(info.bytes)[0]).toEqual({
      rect: { x: 0, y: 0, width: 1920, height: 1080 },
      enabled: true,
      flags: 0,
    });
    s.t.write(R.Config + ConfigOffset.EventsClear, 4, GPU_EVENT_DISPLAY);
    expect(s.cfg(ConfigOffset.EventsRead)).toBe(0);
    expect(s.cfg(ConfigOffset.EventsClear)).toBe(0);
    expect(s.dev.displaySize).toEqual({ width: 1920, height: 1080 });

    // Userspace switches: a new buffer at the new size.
    fbdevResource(s, 5, 1920, 1080);
    s.ctrl(
      encode.setScanout({ rect: { x: 0, y: 0, width: 1920, height: 1080 }, scanoutId: 0, resourceId: 5 }),
    );
    expect(s.events.resize.at(-1)).toEqual({ width: 1920, height: 1080 });
  });

  it('rejects sizes outside 320x200..7680x4320 and sends no EDID above what a DTD holds', () => {
    const s = setup();
    s.init();
    expect(s.dev.requestSize(100, 100)).toBe(false);
    expect(s.dev.requestSize(7681, 1000)).toBe(false);
    expect(s.dev.requestSize(1000.5, 1000)).toBe(false);
    expect(s.configInterrupt()).toBe(false);
    expect(s.dev.requestSize(7680, 4320)).toBe(true);
    const { edid, info } = probe(s);
    // Size 0: Linux drops the EDID and adds a CVT mode at the display-info size instead.
    expect(edid.hdr.type).toBe(Resp.OkEdid);
    expect(decodeEdidResp(edid.bytes).length).toBe(0);
    expect(decodeDisplayInfo(info.bytes)[0].rect).toEqual({ x: 0, y: 0, width: 7680, height: 4320 });
  });

  it('stores a request made before the driver is up and clears pending events on reset', () => {
    const s = setup();
    expect(s.dev.requestSize(1024, 768)).toBe(true);
    s.init();
    expect(decodeDisplayInfo(probe(s).info.bytes)[0].rect.width).toBe(1024);
    expect(s.cfg(ConfigOffset.EventsRead)).toBe(0);
  });
});

describe('reset', () => {
  it('drops resources, scanout and cursor, and tells the front end', () => {
    const s = setup();
    s.init();
    fbdevResource(s, 1, 32, 32);
    s.ctrl(encode.setScanout({ rect: { x: 0, y: 0, width: 32, height: 32 }, scanoutId: 0, resourceId: 1 }));
    s.ctrl(encode.resourceCreate2d({ resourceId: 2, format: 1, width: 64, height: 64 }));
    s.cursor(encode.updateCursor({ scanoutId: 0, x: 0, y: 0, resourceId: 2, hotX: 0, hotY: 0 }));
    s.drv.setReg(R.Status, 0);
    expect(s.dev.resourceCount).toBe(0);
    expect(s.dev.resourceMemory).toBe(0);
    expect(s.dev.scanoutInfo).toBeNull();
    expect(s.events.resize.at(-1)).toEqual({ width: 0, height: 0 });
    expect(s.events.cursor.at(-1)?.image).toBeNull();
    s.init();
    expect(s.ctrl(encode.resourceCreate2d({ resourceId: 1, format: 2, width: 8, height: 8 })).hdr.type).toBe(
      Resp.OkNodata,
    );
  });
});
