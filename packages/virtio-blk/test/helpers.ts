import { Feature, MmioTransport, Ram, bit, type BusDevice, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { BlkFeature, BlkType, type BlockBackend } from '../src/index.js';
import { VirtioBlkDevice, type VirtioBlkOptions } from '../src/device.js';
import { MemoryBackend } from '../src/backend.js';

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 16 << 20;

export const ALL_FEATURES =
  bit(Feature.EventIdx) |
  bit(Feature.IndirectDesc) |
  bit(BlkFeature.SegMax) |
  bit(BlkFeature.BlkSize) |
  bit(BlkFeature.Flush) |
  bit(BlkFeature.Ro) |
  bit(BlkFeature.Discard) |
  bit(BlkFeature.WriteZeroes);

export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => void lines.push(m);
  return { log: { debug: push, info: push, warn: push, error: push }, lines };
}

export interface Rig {
  ram: Ram;
  dev: VirtioBlkDevice;
  t: MmioTransport;
  drv: VirtioTestDriver;
  irq: { level: boolean; set(l: boolean): void };
  lines: string[];
}

/** A disk of `size` bytes (memory backend unless given), probed like Linux's virtblk_probe. */
export function rig(
  opts: Partial<VirtioBlkOptions> & {
    size?: number;
    want?: bigint;
    bus?: (t: MmioTransport) => BusDevice;
  } = {},
): Rig {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const { log, lines } = captureLog();
  const backend = opts.backend ?? new MemoryBackend({ size: opts.size ?? 1 << 20 });
  const dev = new VirtioBlkDevice({ ...opts, backend });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const t = new MmioTransport(dev, { memory: ram, irq, log });
  const drv = new VirtioTestDriver(opts.bus ? opts.bus(t) : t, ram, RAM_BASE + 0x1000);
  if (!drv.init(opts.want ?? ALL_FEATURES)) throw new Error('init failed');
  return { ram, dev, t, drv, irq, lines };
}

export function header(type: number, sector: number | bigint = 0): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type, true);
  dv.setBigUint64(8, BigInt(sector), true);
  return h;
}

export function segment(sector: number | bigint, num: number, flags = 0): Uint8Array {
  const s = new Uint8Array(16);
  const dv = new DataView(s.buffer);
  dv.setBigUint64(0, BigInt(sector), true);
  dv.setUint32(8, num, true);
  dv.setUint32(12, flags, true);
  return s;
}

export function pattern(len: number, seed = 1): Uint8Array {
  const a = new Uint8Array(len);
  let x = seed * 2654435761;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

export interface Result {
  status: number;
  len: number;
  id: number;
  /** The device-writable data (without the status byte). */
  data: Uint8Array;
}

export interface ReqSpec {
  /** Readable buffers after the header. */
  out?: Uint8Array[];
  /** Writable data buffer sizes before the status byte. */
  inLens?: number[];
  indirect?: boolean;
  /** Split the header into these pieces (sizes summing to 16). */
  split?: number[];
}

/** Queue one request without kicking; returns a function that reads its result once used. */
export function queue(r: Rig, hdr: Uint8Array, spec: ReqSpec = {}): { head: number; result(): Result } {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const n of spec.split ?? [16]) {
    pieces.push(hdr.subarray(at, at + n));
    at += n;
  }
  const inLens = [...(spec.inLens ?? []), 1];
  const { head, inAddrs } = r.drv.add(0, {
    out: [...pieces, ...(spec.out ?? [])],
    inLens,
    indirect: spec.indirect,
  });
  return {
    head,
    result(): Result {
      const dataLen = inLens.slice(0, -1).reduce((a, b) => a + b, 0);
      const data = new Uint8Array(dataLen);
      let pos = 0;
      inLens.slice(0, -1).forEach((n, k) => {
        data.set(r.ram.view(inAddrs[k], n)!, pos);
        pos += n;
      });
      return { status: r.ram.view(inAddrs[inAddrs.length - 1], 1)![0], len: -1, id: head, data };
    },
  };
}

/** Issue one request, wait for the device, and return what came back. */
export async function request(r: Rig, hdr: Uint8Array, spec: ReqSpec = {}): Promise<Result> {
  const q = queue(r, hdr, spec);
  r.drv.kick(0, true);
  await r.dev.drain();
  const used = r.drv.takeUsed(0);
  const mine = used.find((u) => u.id === q.head);
  if (!mine) throw new Error(`request ${q.head} not completed (used: ${JSON.stringify(used)})`);
  return { ...q.result(), len: mine.len };
}

export const read = (r: Rig, sector: number, bytes: number, spec: ReqSpec = {}): Promise<Result> =>
  request(r, header(BlkType.In, sector), { inLens: [bytes], ...spec });

export const write = (r: Rig, sector: number, data: Uint8Array, spec: ReqSpec = {}): Promise<Result> =>
  request(r, header(BlkType.Out, sector), { out: [data], ...spec });

/** A backend whose operations wait until the test releases them, in any order. */
export class DeferredBackend implements BlockBackend {
  readonly readOnly = false;
  readonly waiting: { op: string; offset: number; release(): void; fail(e: Error): void }[] = [];
  constructor(
    readonly inner: MemoryBackend,
    readonly size = inner.size,
  ) {}
  private gate(op: string, offset: number, run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        op,
        offset,
        release: () => void run().then(resolve, reject),
        fail: (e) => reject(e),
      });
    });
  }
  read(offset: number, dest: Uint8Array): Promise<void> {
    return this.gate('read', offset, () => this.inner.read(offset, dest));
  }
  write(offset: number, src: Uint8Array): Promise<void> {
    const copy = src.slice();
    return this.gate('write', offset, () => this.inner.write(offset, copy));
  }
  flush(): Promise<void> {
    return this.gate('flush', 0, () => this.inner.flush());
  }
}

/** Byte equality that stays fast on megabyte buffers (toEqual walks them element by element). */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}
