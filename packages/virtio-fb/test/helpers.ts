/**
 * A test-side virtio-gpu driver that sends what Linux 6.12's virtio-gpu driver sends (virtgpu_vq.c): the
 * command in one readable buffer, ATTACH_BACKING's entries in a second one, the response in a writable
 * buffer of exactly the response's size, and cursor commands with no response buffer at all.
 */
import {
  Feature,
  Interrupt,
  MmioReg as R,
  MmioTransport,
  Ram,
  Status,
  bit,
  type Logger,
} from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import {
  VirtioGpuDevice,
  type CursorEvent,
  type CursorMoveEvent,
  type DamageEvent,
  type DisplayChangeEvent,
  type GpuDeviceOptions,
  type ResizeEvent,
} from '../src/device.js';
import { toRGBA } from '../src/format.js';
import { GpuFeature, HDR_SIZE, QueueIndex, readHdr, type CtrlHdr } from '../src/protocol.js';

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 64 << 20;
/** Backing pages come from here up; the driver's rings and buffers live below. */
export const PAGE_POOL = RAM_BASE + (16 << 20);
export const PAGE = 4096;

export interface Reply {
  hdr: CtrlHdr;
  /** Used length the device reported. */
  len: number;
  bytes: Uint8Array;
}

export function setup(opts: GpuDeviceOptions = {}) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const dev = new VirtioGpuDevice({ log, ...opts });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const t = new MmioTransport(dev, { memory: ram, irq, log });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  const events = {
    resize: [] as ResizeEvent[],
    damage: [] as (Omit<DamageEvent, 'pixels'> & { rgba: Uint8Array })[],
    cursor: [] as CursorEvent[],
    cursorMove: [] as CursorMoveEvent[],
    displayChange: [] as DisplayChangeEvent[],
  };
  dev.on('resize', (e) => events.resize.push(e));
  // Converted at once: the pixels view is valid only during the event.
  dev.on('damage', (e) =>
    events.damage.push({
      ...e,
      rgba: toRGBA(e.format, e.pixels, e.stride, e.width, e.height, { opaque: true }),
    }),
  );
  dev.on('cursor', (e) => events.cursor.push(e));
  dev.on('cursorMove', (e) => events.cursorMove.push(e));
  dev.on('displayChange', (e) => events.displayChange.push(e));

  /** Send one request and return the device's reply (respLen 0: no response buffer, as on the cursorq). */
  function send(q: number, cmd: Uint8Array, respLen = HDR_SIZE, data: Uint8Array[] = []): Reply {
    const { head, inAddrs } = drv.add(q, { out: [cmd, ...data], inLens: respLen ? [respLen] : [] });
    drv.kick(q, true);
    const used = drv.takeUsed(q);
    const mine = used.find((u) => u.id === head);
    if (!mine) throw new Error(`request ${head} not completed`);
    const bytes = new Uint8Array(respLen);
    if (respLen) ram.read(inAddrs[0], bytes);
    const hdr =
      respLen >= HDR_SIZE
        ? readHdr(new DataView(bytes.buffer))
        : { type: 0, flags: 0, fenceId: 0n, ctxId: 0, ringIdx: 0 };
    return { hdr, len: mine.len, bytes };
  }

  const ctrl = (cmd: Uint8Array, respLen = HDR_SIZE, data: Uint8Array[] = []) =>
    send(QueueIndex.Control, cmd, respLen, data);
  const cursor = (cmd: Uint8Array, respLen = 0) => send(QueueIndex.Cursor, cmd, respLen);

  /** Bring the device up as virtio_gpu_init does; returns the negotiated features. */
  function init(want = bit(GpuFeature.Edid)): bigint {
    if (!drv.init(want | bit(Feature.EventIdx) | bit(Feature.IndirectDesc))) throw new Error('init failed');
    return drv.negotiated;
  }

  const cfg = (off: number) => t.read(R.Config + off, 4);
  const needsReset = () => (drv.status & Status.DeviceNeedsReset) !== 0;
  const configInterrupt = () => (drv.reg(R.InterruptStatus) & Interrupt.ConfigChange) !== 0;

  return { ram, dev, t, drv, logs, events, send, ctrl, cursor, init, cfg, needsReset, configInterrupt, irq };
}

/** Guest pages for a backing store, deliberately out of order and not contiguous. */
export function scatteredPages(count: number, firstPage = 0): number[] {
  const pages: number[] = [];
  for (let i = 0; i < count; i++) pages.push(PAGE_POOL + (firstPage + 2 * (count - 1 - i)) * PAGE);
  return pages;
}

/** Writes `data` across `entries` in order (as a scatter list of the backing store). */
export function scatter(ram: Ram, entries: { addr: number; length: number }[], data: Uint8Array): void {
  let pos = 0;
  for (const e of entries) {
    const n = Math.min(e.length, data.length - pos);
    if (n <= 0) break;
    ram.write(e.addr, data.subarray(pos, pos + n));
    pos += n;
  }
}
