import { describe, expect, it } from 'vitest';
import {
  Cmd,
  DISPLAY_INFO_SIZE,
  EDID_RESP_SIZE,
  Flag,
  HDR_SIZE,
  MEM_ENTRY_SIZE,
  RequestSize,
  Resp,
  decodeDisplayInfo,
  decodeEdidResp,
  encode,
  encodeDisplayInfo,
  encodeEdidResp,
  encodeNodata,
  isPixelFormat,
  parseAttachBacking,
  parseMemEntry,
  parseResourceCreate2d,
  parseResourceFlush,
  parseSetScanout,
  parseTransferToHost2d,
  parseUpdateCursor,
  readHdr,
  readU64,
  responseHdr,
} from '../src/protocol.js';

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('virtio-gpu wire formats', () => {
  it('uses the struct sizes of include/uapi/linux/virtio_gpu.h', () => {
    expect(HDR_SIZE).toBe(24);
    expect(RequestSize[Cmd.GetDisplayInfo]).toBe(24);
    expect(RequestSize[Cmd.ResourceCreate2d]).toBe(40);
    expect(RequestSize[Cmd.ResourceUnref]).toBe(32);
    expect(RequestSize[Cmd.SetScanout]).toBe(48);
    expect(RequestSize[Cmd.ResourceFlush]).toBe(48);
    expect(RequestSize[Cmd.TransferToHost2d]).toBe(56);
    expect(RequestSize[Cmd.ResourceAttachBacking]).toBe(32);
    expect(RequestSize[Cmd.ResourceDetachBacking]).toBe(32);
    expect(RequestSize[Cmd.GetEdid]).toBe(32);
    expect(RequestSize[Cmd.UpdateCursor]).toBe(56);
    expect(MEM_ENTRY_SIZE).toBe(16);
    expect(DISPLAY_INFO_SIZE).toBe(408);
    expect(EDID_RESP_SIZE).toBe(1056);
  });

  it('encodes each request at its struct size and parses it back', () => {
    const rect = { x: 1, y: 2, width: 3, height: 4 };
    expect(encode.getDisplayInfo().length).toBe(24);
    expect(encode.getEdid(0).length).toBe(32);
    const c2d = { resourceId: 7, format: 2, width: 640, height: 480 };
    const b = encode.resourceCreate2d(c2d);
    expect(b.length).toBe(40);
    expect(readHdr(dv(b)).type).toBe(Cmd.ResourceCreate2d);
    expect(parseResourceCreate2d(dv(b))).toEqual(c2d);
    expect(parseSetScanout(dv(encode.setScanout({ rect, scanoutId: 0, resourceId: 7 })))).toEqual({
      rect,
      scanoutId: 0,
      resourceId: 7,
    });
    expect(parseResourceFlush(dv(encode.resourceFlush({ rect, resourceId: 9 })))).toEqual({
      rect,
      resourceId: 9,
    });
    const t = encode.transferToHost2d({ rect, offset: 0x1_0000_0010, resourceId: 5 });
    expect(t.length).toBe(56);
    expect(parseTransferToHost2d(dv(t))).toEqual({ rect, offset: 0x1_0000_0010, resourceId: 5 });
    expect(parseAttachBacking(dv(encode.attachBacking({ resourceId: 3, nrEntries: 2 })))).toEqual({
      resourceId: 3,
      nrEntries: 2,
    });
    const ents = encode.memEntries([
      { addr: 0x8000_1000, length: 4096 },
      { addr: 2n ** 63n, length: 1 },
    ]);
    expect(ents.length).toBe(32);
    expect(parseMemEntry(dv(ents), 0)).toEqual({ addr: 0x8000_1000, length: 4096 });
    expect(parseMemEntry(dv(ents), 1).addr).toBe(-1);
    const cur = { scanoutId: 0, x: -3, y: 40, resourceId: 9, hotX: 1, hotY: 2 };
    expect(parseUpdateCursor(dv(encode.updateCursor(cur)))).toEqual(cur);
    expect(readHdr(dv(encode.moveCursor({ scanoutId: 0, x: 1, y: 1 }))).type).toBe(Cmd.MoveCursor);
  });

  it('reads u64 fields exactly below 2^53 and as -1 above', () => {
    const b = new Uint8Array(8);
    dv(b).setBigUint64(0, 2n ** 53n - 1n, true);
    expect(readU64(dv(b), 0)).toBe(2 ** 53 - 1);
    dv(b).setBigUint64(0, 2n ** 53n, true);
    expect(readU64(dv(b), 0)).toBe(-1);
  });

  it('echoes fence, ctx and ring index only for fenced requests', () => {
    const fenced = readHdr(
      dv(encode.getDisplayInfo({ flags: Flag.Fence, fenceId: 2n ** 64n - 1n, ctxId: 5 })),
    );
    const r = readHdr(dv(encodeNodata(responseHdr(fenced, Resp.OkNodata))));
    expect(r).toEqual({
      type: Resp.OkNodata,
      flags: Flag.Fence,
      fenceId: 2n ** 64n - 1n,
      ctxId: 5,
      ringIdx: 0,
    });
    const ring = readHdr(
      dv(encode.getDisplayInfo({ flags: Flag.Fence | Flag.InfoRingIdx, fenceId: 9n, ringIdx: 3 })),
    );
    expect(responseHdr(ring, Resp.OkNodata).ringIdx).toBe(3);
    const plain = readHdr(dv(encode.getDisplayInfo({ fenceId: 9n, ctxId: 5 })));
    expect(responseHdr(plain, Resp.ErrUnspec)).toEqual({
      type: Resp.ErrUnspec,
      flags: 0,
      fenceId: 0n,
      ctxId: 0,
      ringIdx: 0,
    });
  });

  it('round-trips display info and EDID responses', () => {
    const modes = [{ rect: { x: 0, y: 0, width: 1280, height: 800 }, enabled: true, flags: 0 }];
    const di = encodeDisplayInfo(responseHdr(null, Resp.OkDisplayInfo), modes);
    expect(di.length).toBe(408);
    const back = decodeDisplayInfo(di);
    expect(back[0]).toEqual(modes[0]);
    expect(back.slice(1).every((m) => !m.enabled && m.rect.width === 0)).toBe(true);
    const edid = new Uint8Array(128).fill(7);
    const er = encodeEdidResp(responseHdr(null, Resp.OkEdid), edid);
    expect(er.length).toBe(1056);
    expect(dv(er).getUint32(24, true)).toBe(128);
    expect(decodeEdidResp(er)).toEqual(edid);
    expect(decodeEdidResp(encodeEdidResp(responseHdr(null, Resp.OkEdid), null)).length).toBe(0);
  });

  it('knows exactly the eight 2D formats', () => {
    for (const f of [1, 2, 3, 4, 67, 68, 121, 134]) expect(isPixelFormat(f)).toBe(true);
    for (const f of [0, 5, 66, 100, 133, 135, 0xffffffff]) expect(isPixelFormat(f)).toBe(false);
  });
});
