import type { GuestMemory, Logger } from './bus.js';
import { DescFlag } from './constants.js';

/** One guest buffer of a descriptor chain: `len` bytes at guest-physical `addr`, already bounds-checked. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
}

/**
 * A validated descriptor chain: the device-readable buffers, then the device-writable ones. Every segment
 * lies inside guest RAM.
 */
export class DescriptorChain {
  constructor(
    /** Index of the head descriptor: what goes back in the used ring. */
    readonly head: number,
    readonly readable: readonly Segment[],
    readonly writable: readonly Segment[],
    private readonly memory: GuestMemory,
  ) {}

  get readableLength(): number {
    let n = 0;
    for (const s of this.readable) n += s.len;
    return n;
  }

  get writableLength(): number {
    let n = 0;
    for (const s of this.writable) n += s.len;
    return n;
  }

  /**
   * Copy `length` readable bytes starting at byte `offset` of the readable part into a new buffer; null if
   * the chain has fewer bytes. Callers bound `length` before calling: it is the allocation size.
   */
  readBytes(offset: number, length: number): Uint8Array | null {
    if (offset < 0 || length < 0 || offset + length > this.readableLength) return null;
    const out = new Uint8Array(length);
    let pos = 0;
    let skip = offset;
    for (const s of this.readable) {
      if (pos >= length) break;
      if (skip >= s.len) {
        skip -= s.len;
        continue;
      }
      const n = Math.min(s.len - skip, length - pos);
      const v = this.memory.view(s.addr + skip, n);
      if (!v) return null;
      out.set(v, pos);
      pos += n;
      skip = 0;
    }
    return out;
  }

  /** Scatter `data` into the writable part starting at byte `offset`; returns the bytes written. */
  writeBytes(offset: number, data: Uint8Array): number {
    let pos = 0;
    let skip = offset;
    for (const s of this.writable) {
      if (pos >= data.length) break;
      if (skip >= s.len) {
        skip -= s.len;
        continue;
      }
      const n = Math.min(s.len - skip, data.length - pos);
      const v = this.memory.view(s.addr + skip, n);
      if (!v) break;
      v.set(data.subarray(pos, pos + n));
      pos += n;
      skip = 0;
    }
    return pos;
  }

  /** Zero-copy views of the readable segments, for bulk data. */
  readableViews(): Uint8Array[] {
    return this.readable.map((s) => this.memory.view(s.addr, s.len) ?? new Uint8Array(0));
  }

  /** Zero-copy views of the writable segments, for bulk data. */
  writableViews(): Uint8Array[] {
    return this.writable.map((s) => this.memory.view(s.addr, s.len) ?? new Uint8Array(0));
  }
}

/** Where the driver put the three parts of a split ring. */
export interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
}

/** Thrown by nothing: returned by {@link Virtqueue.pop} when the ring itself is corrupt. */
export type PopResult = DescriptorChain | null;

/**
 * The device side of a split virtqueue. Reads the available ring, validates each descriptor chain, and
 * writes the used ring. Malformed chains are consumed and returned with length 0 (and logged); a corrupt
 * ring (impossible indices) marks the queue broken, and the transport asks the driver for a reset.
 */
export class Virtqueue {
  private lastAvail = 0;
  private usedIdx = 0;
  /** used idx when the driver was last interrupted, for EVENT_IDX suppression. */
  private signalledUsed = 0;
  private broken = false;
  private alive = true;
  /** Descriptors visited by every walk so far: devices read it to bound the work of one turn. */
  private walked = 0;
  /** Malformed chains dropped since the last log line, and when that line was written. */
  private droppedSinceLog = 0;
  private lastDropLog = -Infinity;

  constructor(
    readonly index: number,
    private readonly layout: QueueLayout,
    private readonly memory: GuestMemory,
    private readonly opts: {
      indirect: boolean;
      eventIdx: boolean;
      log: Logger;
      /** Raise the used-buffer interrupt. */
      interrupt: () => void;
      /** The ring is corrupt: the transport sets DEVICE_NEEDS_RESET. */
      fatal: (reason: string) => void;
    },
  ) {}

  get size(): number {
    return this.layout.size;
  }

  /** Checks that the three ring areas lie in guest RAM; the transport calls it before enabling the queue. */
  static layoutFits(l: QueueLayout, memory: GuestMemory): boolean {
    return (
      l.desc % 16 === 0 &&
      l.avail % 2 === 0 &&
      l.used % 4 === 0 &&
      memory.contains(l.desc, 16 * l.size) &&
      memory.contains(l.avail, 6 + 2 * l.size) &&
      memory.contains(l.used, 6 + 8 * l.size)
    );
  }

  /** Stops all ring access: after a reset a late completion must not write guest memory. */
  kill(): void {
    this.alive = false;
  }

  get isBroken(): boolean {
    return this.broken || !this.alive;
  }

  /**
   * Descriptors visited while validating chains since the queue went live, malformed ones included. A
   * device that bounds its work per event-loop turn counts this, since dropped chains never reach it.
   */
  get descriptorsWalked(): number {
    return this.walked;
  }

  /** Number of chains the driver has made available and we have not popped. */
  pending(): number {
    if (this.isBroken) return 0;
    const availIdx = this.memory.readU16(this.layout.avail + 2);
    return (availIdx - this.lastAvail) & 0xffff;
  }

  /**
   * Take the next available chain. Returns null when there is none (or the queue is broken). A chain that
   * fails validation is returned to the driver with length 0 and the next one is tried, but only while
   * the walks of this call stay under two queue sizes of descriptors: past that pop returns null with
   * chains still pending, so that one call costs O(queue size) whatever the ring holds. Devices that
   * bound their turns see {@link pending} > 0 and come back on a later turn.
   */
  pop(): PopResult {
    const start = this.walked;
    for (;;) {
      if (this.walked - start > 2 * this.layout.size) return null;
      const n = this.pending();
      if (n === 0) return null;
      if (n > this.layout.size) {
        this.fail(`avail idx ran ${n} entries ahead of a ring of ${this.layout.size}`);
        return null;
      }
      const slot = this.layout.avail + 4 + 2 * (this.lastAvail % this.layout.size);
      const head = this.memory.readU16(slot);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      if (this.opts.eventIdx) {
        // avail_event: ask to be notified as soon as the driver adds anything past what we consumed.
        this.memory.writeU16(this.layout.used + 4 + 8 * this.layout.size, this.lastAvail);
      }
      if (head >= this.layout.size) {
        this.fail(`head descriptor ${head} outside a ring of ${this.layout.size}`);
        return null;
      }
      const chain = this.walk(head);
      if (typeof chain === 'string') {
        this.logDrop(head, chain);
        this.push(head, 0);
        continue;
      }
      return chain;
    }
  }

  /**
   * The chain at `head` again, for a device restoring the chains it held (popped, not yet used) at a
   * snapshot; null when it no longer validates (the saved RAM was damaged).
   */
  chainAt(head: number): DescriptorChain | null {
    if (!Number.isInteger(head) || head < 0 || head >= this.layout.size) return null;
    const c = this.walk(head);
    return typeof c === 'string' ? null : c;
  }

  /** Ring positions for a snapshot (the rings themselves are in guest RAM). */
  savePositions(): { lastAvail: number; usedIdx: number; signalledUsed: number; broken: boolean } {
    return {
      lastAvail: this.lastAvail,
      usedIdx: this.usedIdx,
      signalledUsed: this.signalledUsed,
      broken: this.broken,
    };
  }

  restorePositions(p: { lastAvail: number; usedIdx: number; signalledUsed: number; broken: boolean }): void {
    this.lastAvail = p.lastAvail & 0xffff;
    this.usedIdx = p.usedIdx & 0xffff;
    this.signalledUsed = p.signalledUsed & 0xffff;
    this.broken = p.broken;
  }

  /** Put a finished chain in the used ring, `written` bytes of it written by the device. */
  push(head: number, written: number): void {
    if (this.isBroken) return;
    const usedElem = this.layout.used + 4 + 8 * (this.usedIdx % this.layout.size);
    this.memory.writeU32(usedElem, head);
    this.memory.writeU32(usedElem + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.memory.writeU16(this.layout.used + 2, this.usedIdx);
  }

  /** Interrupt the driver if it wants to hear about the used entries pushed since the last signal. */
  signal(): void {
    if (this.isBroken || this.usedIdx === this.signalledUsed) return;
    const old = this.signalledUsed;
    this.signalledUsed = this.usedIdx;
    if (this.opts.eventIdx) {
      const usedEvent = this.memory.readU16(this.layout.avail + 4 + 2 * this.layout.size);
      // Interrupt iff used_event lies in [old, new): the driver asked to hear when that entry was used.
      if (((this.usedIdx - usedEvent - 1) & 0xffff) >= ((this.usedIdx - old) & 0xffff)) return;
    } else {
      const flags = this.memory.readU16(this.layout.avail);
      if (flags & 1) return; // VIRTQ_AVAIL_F_NO_INTERRUPT
    }
    this.opts.interrupt();
  }

  /** Convenience: push then signal. */
  complete(head: number, written: number): void {
    this.push(head, written);
    this.signal();
  }

  /** One line per second at most: a guest can post malformed chains as fast as it can write RAM. */
  private logDrop(head: number, reason: string): void {
    this.droppedSinceLog++;
    const now = Date.now();
    if (now - this.lastDropLog < 1000) return;
    const more =
      this.droppedSinceLog > 1 ? ` (and ${this.droppedSinceLog - 1} more since the last report)` : '';
    this.opts.log.warn(`virtqueue ${this.index}: dropped chain ${head}: ${reason}${more}`);
    this.droppedSinceLog = 0;
    this.lastDropLog = now;
  }

  private fail(reason: string): void {
    this.broken = true;
    this.opts.log.error(`virtqueue ${this.index}: ${reason}; device needs reset`);
    this.opts.fatal(reason);
  }

  /**
   * Follow a chain from `head`; a string is the reason it is malformed. The virtio spec forbids a chain
   * longer than the queue size, indirect descriptors included, so no chain costs more than `size` steps
   * (an indirect table longer than the queue is refused before any of it is read).
   */
  private walk(head: number): DescriptorChain | string {
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    const queueSize = this.layout.size;
    let table = this.layout.desc;
    let tableSize = queueSize;
    let idx = head;
    let indirect = false;
    // Descriptors this chain may still visit: a chain that runs out is a loop or too long for the queue.
    let budget = queueSize;
    for (;;) {
      if (idx >= tableSize) return `next index ${idx} beyond table of ${tableSize}`;
      if (budget-- <= 0) return `descriptor loop or chain longer than the queue size ${queueSize}`;
      this.walked++;
      const d = table + 16 * idx;
      const addr = this.memory.readU64(d);
      const len = this.memory.readU32(d + 8);
      const flags = this.memory.readU16(d + 12);
      const next = this.memory.readU16(d + 14);
      if (addr < 0 || len < 0 || flags < 0 || next < 0) return 'descriptor outside guest RAM';
      if (flags & DescFlag.Indirect) {
        if (indirect) return 'nested indirect table';
        if (!this.opts.indirect) return 'indirect descriptor without INDIRECT_DESC';
        if (flags & DescFlag.Next) return 'indirect descriptor with NEXT set';
        if (len === 0 || len % 16 !== 0) return `indirect table length ${len} not a multiple of 16`;
        if (len / 16 > queueSize)
          return `indirect table of ${len / 16} entries is longer than the queue size ${queueSize}`;
        if (!this.memory.contains(addr, len)) return 'indirect table outside guest RAM';
        if (readable.length + writable.length > 0) return 'indirect descriptor after direct ones';
        indirect = true;
        table = addr;
        tableSize = len / 16;
        // The indirect descriptor was the whole direct chain: the table gets the queue's full allowance.
        budget = tableSize;
        idx = 0;
        continue;
      }
      if (!this.memory.contains(addr, len)) return `buffer ${addr.toString(16)}+${len} outside guest RAM`;
      if (flags & DescFlag.Write) writable.push({ addr, len });
      else if (writable.length > 0) return 'device-readable buffer after a device-writable one';
      else readable.push({ addr, len });
      if (!(flags & DescFlag.Next)) break;
      idx = next;
    }
    return new DescriptorChain(head, readable, writable, this.memory);
  }
}
