/**
 * The control block between a machine's main thread and the workers that run its harts: one
 * SharedArrayBuffer with a record of Int32 words per hart. Everything here is plain Atomics on shared
 * memory, so it runs the same in Node's worker_threads and in browser Web Workers.
 *
 * Per hart: a doorbell (bumped and notified for anything the worker must look at: a command, an
 * interrupt, a fence, a mailbox reply), a command word, the platform's interrupt lines (level bits) and
 * IPIs (edge bits), fence requests with a sequence the worker acknowledges, the supervisor timer deadline
 * of the host SBI, and a mailbox through which the worker makes synchronous requests of the main thread
 * (MMIO loads and stores, SBI calls).
 */

import { kickCell } from '../memory.js';

/** Int32 words per hart record (1 KiB). */
export const HART_WORDS = 256;

/**
 * Bytes per hart of the state exchange area (after every hart's record): a snapshot's hart state
 * (encodeState of saveHart, about 1 KiB) travels through it both ways, since a worker that runs a hart
 * never returns to its event loop to receive a message.
 */
export const STATE_BYTES = 16 * 1024;

/**
 * Posted MMIO stores (writes that need no reply: virtqueue notifications, interrupt acks, PLIC
 * completions): a ring of POST_ENTRIES records of POST_ENTRY_WORDS words (address, width, value) at
 * word POST_RING of the hart's record. The worker advances POST_HEAD, the main thread POST_TAIL; the
 * main thread drains a hart's ring before it answers any mailbox request of that hart, so the hart's
 * own accesses stay in program order.
 */
export const POST_RING = 128;
export const POST_ENTRIES = 32;
export const POST_ENTRY_WORDS = 4;

/** Word indices in a hart's record. */
export const W = {
  /** Bumped (Atomics.add + notify) whenever the worker has something to look at. */
  DOORBELL: 0,
  /** A command for the worker (Cmd), taken with Atomics.exchange. */
  CMD: 1,
  /** What the worker is doing (HartRun), for the main thread. */
  RUN: 2,
  /** Interrupt lines the platform holds (mip bits: MSIP, MTIP, SEIP, MEIP, STIP of the host SBI). */
  MIP_LEVEL: 3,
  /** Interrupts delivered as events (SSIP: SBI IPIs), taken with Atomics.exchange. */
  MIP_EDGE: 4,
  /** Fences asked of the worker (Fence bits), with a sequence it acknowledges once they are done. */
  FENCE: 5,
  FENCE_SEQ: 6,
  FENCE_ACK: 7,
  /** Mailbox: state (Mb), operation (Op), width, value, result. */
  MB_STATE: 8,
  MB_OP: 9,
  MB_WIDTH: 10,
  MB_VALUE: 11,
  MB_RESULT: 12,
  /** Start registers a0, a1, a2 as (lo, hi) pairs. */
  START_REGS: 20,
  /** SBI call registers x10..x17 as (lo, hi) pairs; a0 and a1 come back in the first four. */
  SBI_REGS: 32,
  /** Posted stores: records the worker has written, records the main thread has done (free-running). */
  POST_HEAD: 48,
  POST_TAIL: 49,
  /**
   * Snapshots: bytes of the hart state in the exchange area (negative: the length of an error message
   * the worker wrote there instead), the sequence of the main thread's LOAD and the worker's
   * acknowledgement of it, and whether the hart runs after the LOAD (1) or stays parked (0).
   */
  STATE_LEN: 50,
  STATE_SEQ: 51,
  STATE_ACK: 52,
  LOAD_RUN: 53,
} as const;

/**
 * Float64 indices in a hart's record (the record is HART_WORDS / 2 doubles); double k covers Int32
 * words 2k and 2k + 1, which W leaves free.
 */
export const D = {
  /** Mailbox physical address. */
  MB_ADDR: 7,
  /** Start pc. */
  START_PC: 8,
  /** The host SBI's supervisor timer deadline in clock ticks (Infinity: none). */
  TIMER: 9,
  /** Instructions retired, published by the worker now and then (words 26-27: START_REGS ends at 25). */
  INSTRET: 13,
} as const;

export const Cmd = {
  NONE: 0,
  /** Reset the hart to START_PC with a0..a2 = START_REGS and run it. */
  START: 1,
  /** Stop running (HSM stop, before a reboot): RUN becomes PARKED. */
  PARK: 2,
  /** Leave the worker loop for good: RUN becomes EXITED. */
  EXIT: 3,
  /** Tests: throw inside the worker, as a bug in the CPU would. */
  CRASH: 4,
  /** Snapshot: write the hart's state into the exchange area and hold (RUN becomes HELD). */
  SAVE: 5,
  /** Go on after SAVE, as the hart was. */
  RESUME: 6,
  /** Restore: the hart's state from the exchange area (acknowledged in STATE_ACK), then run or park. */
  LOAD: 7,
} as const;

/** HELD: stopped between two slices for a snapshot, until RESUME or LOAD. */
export const HartRun = { PARKED: 0, RUNNING: 1, WFI: 2, EXITED: 3, HELD: 4 } as const;

export const Fence = { TLB: 1, ICACHE: 2 } as const;

export const Mb = { IDLE: 0, REQUEST: 1, REPLY: 2 } as const;

export const Op = { READ: 1, WRITE: 2, SBI: 3 } as const;

/** The mip bits delivered as edges: SSIP (bit 1), which the guest clears itself. */
export const EDGE_BITS = 1 << 1;

/**
 * Stores a worker posts instead of waiting for: stores of `width` bytes (default 4) to
 * `base + k·stride + offset` for k < count (e.g. QueueNotify of every virtio-mmio slot). Only for
 * registers whose store has no result the hart needs and whose effect may come a little later, as on a
 * posted bus.
 */
export interface PostedRange {
  base: number;
  count: number;
  stride: number;
  offset: number;
  width?: 1 | 2 | 4;
}

/** Whether a store of `width` bytes to `addr` is posted under `ranges`. */
export function isPosted(ranges: readonly PostedRange[], addr: number, width: number): boolean {
  for (const r of ranges) {
    if (width !== (r.width ?? 4)) continue;
    const d = addr - r.base - r.offset;
    if (d >= 0 && d < r.count * r.stride && d % r.stride === 0) return true;
  }
  return false;
}

/**
 * A device register that lives in a shared word (`cells[cell]`, an Int32Array over a SharedArrayBuffer
 * the device keeps current): a hart's 4-byte load reads the word and its 4-byte store changes the word
 * itself — `clear`: write-1-to-clear (virtio-mmio InterruptStatus/InterruptACK), else a plain store
 * (the PLIC's enable words) — and is then posted, so that the device reacts to it (re-evaluates its
 * interrupt line) without the hart waiting: each saves a round trip to the main thread. The posted
 * store reaches the device as 0 for `clear` registers (the bits are already clear; another 1 would clear
 * a bit the device set since) and as the word's value when it is done for the others (the last store
 * of any hart wins, whatever order the harts' rings are drained in).
 */
export interface SharedRegister {
  addr: number;
  cell: number;
  clear?: boolean;
  /** Bytes of the accesses it answers (default 4; a 1-byte register reads the word's low byte). */
  width?: 1 | 4;
  /** Only loads are answered from the word; stores go to the device as any other (a status register). */
  readOnly?: boolean;
  /** The bits a store may set (default all): the others read 0, as the device's own register would. */
  mask?: number;
  /**
   * An interrupt controller's claim register whose device offers the claim in the word (irqchip's
   * Plic.shareClaims): a load takes the word (Atomics.exchange with 0, so two loads never get the same
   * source) and first lowers this mip bit of the hart's lines — the device raises it again once it has
   * seen the word taken and has another source to offer. A load that finds no offer reads 0. Give it
   * with `readOnly` (a store, the completion, goes to the device).
   */
  take?: number;
}

/** The shared registers by address, for lookups on every MMIO access. */
export function sharedRegisterMap(
  list: readonly SharedRegister[],
  cells: number,
): Map<number, SharedRegister> {
  const m = new Map<number, SharedRegister>();
  for (const r of list) {
    if (
      !Number.isInteger(r.cell) ||
      r.cell < 0 ||
      r.cell >= cells ||
      r.addr % (r.width ?? 4) !== 0 ||
      (r.take !== undefined && (!(r.take >= 0 && r.take < 32) || (r.width ?? 4) !== 4))
    )
      throw new RangeError(
        `shared register at ${r.addr.toString(16)}: cell ${r.cell} outside 0..${cells - 1}`,
      );
    m.set(r.addr, r);
  }
  return m;
}

/** What a posted store to a shared register carries to its device (see {@link SharedRegister}). */
export function sharedStoreValue(r: SharedRegister, cells: Int32Array): number {
  return r.clear ? 0 : Atomics.load(cells, r.cell) >>> 0;
}

/** A control block for `harts` harts. */
export function createControl(harts: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(harts * (HART_WORDS * 4 + STATE_BYTES));
  for (let h = 0; h < harts; h++)
    new Float64Array(sab, h * HART_WORDS * 4, HART_WORDS / 2)[D.TIMER] = Infinity;
  return sab;
}

/** How many harts a control block serves. */
export function hartsOf(control: SharedArrayBuffer): number {
  return Math.floor(control.byteLength / (HART_WORDS * 4 + STATE_BYTES));
}

/** One hart's record, as both sides see it. */
export class HartControl {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** The hart's state exchange area (STATE_BYTES). */
  readonly exchange: Uint8Array;
  /** The hart's kick cell (memory.ts HS_KICK), once {@link attachKick} found one: ring() sets it. */
  kick: Int32Array | null = null;
  constructor(
    sab: SharedArrayBuffer,
    readonly hartId: number,
  ) {
    this.i32 = new Int32Array(sab, hartId * HART_WORDS * 4, HART_WORDS);
    this.f64 = new Float64Array(sab, hartId * HART_WORDS * 4, HART_WORDS / 2);
    this.exchange = new Uint8Array(sab, hartsOf(sab) * HART_WORDS * 4 + hartId * STATE_BYTES, STATE_BYTES);
  }

  /**
   * Put `bytes` (a state, or with `error` a message) in the exchange area and record its length;
   * false when it does not fit.
   */
  putExchange(bytes: Uint8Array, error = false): boolean {
    if (bytes.length > STATE_BYTES) return false;
    this.exchange.set(bytes);
    Atomics.store(this.i32, W.STATE_LEN, error ? -bytes.length : bytes.length);
    return true;
  }

  /** What {@link putExchange} left: a copy of the state bytes, or the error message. */
  takeExchange(): { bytes: Uint8Array } | { error: string } {
    const n = Atomics.load(this.i32, W.STATE_LEN);
    const len = Math.min(Math.abs(n), STATE_BYTES);
    const bytes = this.exchange.slice(0, len);
    return n < 0 ? { error: new TextDecoder().decode(bytes) } : { bytes };
  }

  /**
   * Let ring() also kick the hart when its RAM (`ram`, from allocateRam) is a shared wasm memory: a
   * running hart then ends its slice within a few instructions (memory.ts HS_KICK) instead of at the
   * slice's end. Remote fences waited ~0.1 ms each for the slice to end (the desktop's start-up makes
   * ~2,000 of them; 245 ms in all, 47 ms with the kick), interrupts and IPIs as long.
   */
  attachKick(ram: ArrayBufferLike): void {
    this.kick = kickCell(ram, this.hartId);
  }

  /** Make the worker look (wakes it from WFI or an idle wait, kicks it out of a slice). */
  ring(): void {
    if (this.kick !== null) Atomics.store(this.kick, 0, 1);
    Atomics.add(this.i32, W.DOORBELL, 1);
    Atomics.notify(this.i32, W.DOORBELL);
  }

  command(cmd: number): void {
    Atomics.store(this.i32, W.CMD, cmd);
    this.ring();
  }

  /** Drive a platform interrupt line (mip bit) of this hart. */
  setPending(bit: number, level: boolean): void {
    const m = 1 << bit;
    if (m & EDGE_BITS) {
      // An edge: the guest clears SSIP itself, so only a rising request is passed on.
      if (!level) return;
      Atomics.or(this.i32, W.MIP_EDGE, m);
    } else if (level) {
      if (Atomics.or(this.i32, W.MIP_LEVEL, m) & m) return;
    } else if (!(Atomics.and(this.i32, W.MIP_LEVEL, ~m) & m)) return;
    this.ring();
  }

  /** Ask for fences (Fence bits); returns the sequence number the worker's FENCE_ACK will reach. */
  requestFence(bits: number): number {
    const seq = this.postFence(bits);
    this.ring();
    return seq;
  }

  /** {@link requestFence} without ringing: the worker does them the next time it looks. */
  postFence(bits: number): number {
    Atomics.or(this.i32, W.FENCE, bits);
    return Atomics.add(this.i32, W.FENCE_SEQ, 1) + 1;
  }

  /** Whether the worker has done every fence up to `seq` (wrapping int32 sequence). */
  fenced(seq: number): boolean {
    return ((Atomics.load(this.i32, W.FENCE_ACK) - seq) | 0) >= 0;
  }

  setTimer(deadline: number): void {
    this.f64[D.TIMER] = deadline;
  }

  get timer(): number {
    return this.f64[D.TIMER];
  }

  get run(): number {
    return Atomics.load(this.i32, W.RUN);
  }

  get instret(): number {
    return this.f64[D.INSTRET];
  }

  /** Back to power-on (before a reboot): no lines, no fences, no timer, the mailbox idle. */
  clear(): void {
    Atomics.store(this.i32, W.MIP_LEVEL, 0);
    Atomics.store(this.i32, W.MIP_EDGE, 0);
    Atomics.store(this.i32, W.FENCE, 0);
    // Stores posted before the reset are dropped with the devices' state.
    Atomics.store(this.i32, W.POST_TAIL, Atomics.load(this.i32, W.POST_HEAD));
    this.f64[D.TIMER] = Infinity;
  }
}
