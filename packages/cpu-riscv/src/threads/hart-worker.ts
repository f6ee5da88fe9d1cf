/**
 * The loop of a worker thread that runs one hart over shared guest RAM. It uses nothing but Atomics,
 * typed arrays and `performance`, so the same code serves Node's worker_threads (node-entry.ts) and a
 * browser Web Worker (whose entry passes the first message's data and `postMessage`).
 *
 * The worker blocks, never polls: in WFI, parked, or waiting for the main thread it sleeps in
 * Atomics.wait on its doorbell (or its mailbox), with a timeout only for a timer deadline.
 */
import {
  decodeState,
  encodeState,
  type PhysicalBus,
  type SavedState,
  type StateValue,
} from '@virtio-desktop/virtio-core';
import { Hart, StopReason, type CpuEngine } from '../hart.js';
import { adoptSharedRam, jitMemoryOf, type RamLayout } from '../memory.js';
import { restoreHart, saveHart } from '../snapshot.js';
import {
  Cmd,
  D,
  EDGE_BITS,
  Fence,
  HartControl,
  HartRun,
  hartsOf,
  isPosted,
  Mb,
  Op,
  POST_ENTRIES,
  POST_ENTRY_WORDS,
  POST_RING,
  sharedRegisterMap,
  W,
  type PostedRange,
  type SharedRegister,
} from './control.js';

export interface HartWorkerInit {
  hartId: number;
  /** The shared guest RAM: the WebAssembly.Memory allocateRam made (with its layout), or a plain SAB. */
  memory: WebAssembly.Memory | SharedArrayBuffer;
  layout?: RamLayout;
  ramBase: number;
  ramSize: number;
  /** The machine's control block (control.ts). */
  control: SharedArrayBuffer;
  engine: CpuEngine;
  hostSbi: boolean;
  /** performance.timeOrigin + performance.now() at which the machine's clock read 0 ticks. */
  epochMs: number;
  ticksPerMs: number;
  /** Instructions per run between looks at the control block (interrupt latency is one slice). */
  slice: number;
  jitThreshold?: number;
  /** Stores posted without waiting for the main thread (control.ts); none when absent. */
  posted?: PostedRange[];
  /**
   * This hart's interrupt-controller claim registers and the mip bit each context drives: a claim
   * while that line is low returns 0 here (the controller holds a line high exactly while a claim
   * would return a source), which saves the round trip of the empty claim that ends each handler.
   */
  claims?: { addr: number; bit: number }[];
  /** Device registers kept in `registerCells` (control.ts SharedRegister): no round trip for them. */
  registers?: SharedRegister[];
  registerCells?: SharedArrayBuffer;
}

export type HartWorkerMessage =
  | { type: 'ready'; hartId: number; jit: boolean }
  | { type: 'error'; hartId: number; message: string }
  | { type: 'exited'; hartId: number };

/** SBI extension IDs answered in the worker ("TIME", "sPI", "RFNC"). */
const SBI_TIME = 0x54494d45;
const SBI_IPI = 0x735049;
const SBI_RFENCE = 0x52464e43;

/** The platform's level-driven mip bits: MSIP, STIP, MTIP, SEIP, MEIP. */
const LEVEL_BITS = [3, 5, 7, 9, 11];
const STIP = 5;

/**
 * MMIO through the mailbox: the request, a notify, and Atomics.wait until the main thread replies;
 * stores in the posted ranges go into the hart's ring instead and the hart runs on; shared registers
 * are the words themselves. Exported for its tests (not from the package).
 */
export class MailboxBus implements PhysicalBus {
  private readonly regs: Map<number, SharedRegister>;
  private readonly cells: Int32Array;

  constructor(
    private readonly c: HartControl,
    private readonly posted: readonly PostedRange[],
    private readonly claims: readonly { addr: number; bit: number }[],
    /** After a reply: the device may have changed the hart's interrupt lines (a PLIC claim does). */
    private readonly replied: () => void,
    registers: readonly SharedRegister[] = [],
    cells?: SharedArrayBuffer,
  ) {
    this.cells = cells ? new Int32Array(cells) : new Int32Array(0);
    this.regs = sharedRegisterMap(registers, this.cells.length);
  }

  read(addr: number, width: 1 | 2 | 4): number {
    if (this.regs.size) {
      const r = this.regs.get(addr);
      if (r !== undefined && width === (r.width ?? 4)) {
        if (r.take !== undefined) return this.take(r.cell, r.take);
        return width === 4 ? Atomics.load(this.cells, r.cell) >>> 0 : Atomics.load(this.cells, r.cell) & 0xff;
      }
    }
    for (const k of this.claims)
      if (addr === k.addr && width === 4 && !(Atomics.load(this.c.i32, W.MIP_LEVEL) & (1 << k.bit))) return 0;
    return this.call(Op.READ, addr, width, 0) ? this.c.i32[W.MB_VALUE] >>> 0 : -1;
  }

  write(addr: number, width: 1 | 2 | 4, value: number): boolean {
    if (this.regs.size) {
      const r = this.regs.get(addr);
      if (r !== undefined && !r.readOnly && width === (r.width ?? 4)) {
        if (r.clear) Atomics.and(this.cells, r.cell, ~value);
        else Atomics.store(this.cells, r.cell, value & (r.mask ?? -1));
        this.post(addr, width, value);
        return true;
      }
    }
    if (this.posted.length && isPosted(this.posted, addr, width)) {
      this.post(addr, width, value);
      return true;
    }
    return this.call(Op.WRITE, addr, width, value);
  }

  /** A claim offered in `cell` (SharedRegister.take): line `bit` lowered first, then the word taken. */
  private take(cell: number, bit: number): number {
    // Lowered before the take: an offer the device makes after it raises the line again.
    if (Atomics.and(this.c.i32, W.MIP_LEVEL, ~(1 << bit)) & (1 << bit)) this.replied();
    return Atomics.exchange(this.cells, cell, 0) >>> 0;
  }

  private post(addr: number, width: number, value: number): void {
    const i = this.c.i32;
    const head = i[W.POST_HEAD];
    // Full: wait for the main thread to take some (it notifies POST_TAIL after each drain).
    for (;;) {
      const tail = Atomics.load(i, W.POST_TAIL);
      if (((head - tail) | 0) < POST_ENTRIES) break;
      Atomics.wait(i, W.POST_TAIL, tail);
    }
    const e = POST_RING + (head & (POST_ENTRIES - 1)) * POST_ENTRY_WORDS;
    i[e] = addr | 0;
    i[e + 1] = width;
    i[e + 2] = value | 0;
    Atomics.store(i, W.POST_HEAD, (head + 1) | 0);
    // Wake the main thread only when the ring was empty: otherwise it has a wake-up coming, or it is
    // draining and rereads POST_HEAD before it sleeps (both sides store, then load: no lost wake-up).
    if (Atomics.load(i, W.POST_TAIL) === head) Atomics.notify(i, W.POST_HEAD);
  }

  private call(op: number, addr: number, width: number, value: number): boolean {
    const i = this.c.i32;
    i[W.MB_OP] = op;
    i[W.MB_WIDTH] = width;
    i[W.MB_VALUE] = value | 0;
    this.c.f64[D.MB_ADDR] = addr;
    Atomics.store(i, W.MB_STATE, Mb.REQUEST);
    Atomics.notify(i, W.MB_STATE);
    while (Atomics.load(i, W.MB_STATE) === Mb.REQUEST) Atomics.wait(i, W.MB_STATE, Mb.REQUEST);
    const ok = i[W.MB_RESULT] !== 0;
    Atomics.store(i, W.MB_STATE, Mb.IDLE);
    this.replied();
    return ok;
  }
}

/** How long a remote fence looks for a running hart's answer before it sleeps on it. */
const FENCE_SPIN_MS = 0.05;

/** Run hart `init.hartId` until the main thread says EXIT; `post` reports to the main thread. */
export function runHartWorker(init: HartWorkerInit, post: (m: HartWorkerMessage) => void): void {
  const h = init.hartId;
  try {
    loop(init, post);
    post({ type: 'exited', hartId: h });
  } catch (e) {
    // One line: the machine ends with it.
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    post({ type: 'error', hartId: h, message: msg.replace(/\s+/g, ' ').slice(0, 300) });
  }
}

function loop(init: HartWorkerInit, post: (m: HartWorkerMessage) => void): void {
  const c = new HartControl(init.control, init.hartId);
  const i32 = c.i32;
  const buffer =
    init.layout && !(init.memory instanceof SharedArrayBuffer)
      ? adoptSharedRam(init.memory, init.layout, init.hartId)
      : (init.memory as SharedArrayBuffer);
  const base = performance.timeOrigin - init.epochMs;
  const tpm = init.ticksPerMs;
  const time = (): number => Math.floor((performance.now() + base) * tpm);
  const hart = new Hart({
    hartId: init.hartId,
    ram: { base: init.ramBase, size: init.ramSize, buffer },
    bus: new MailboxBus(
      c,
      init.posted ?? [],
      init.claims ?? [],
      () => sync(),
      init.registers,
      init.registerCells,
    ),
    time,
    hostSbi: init.hostSbi,
    engine: init.engine,
    // This thread never returns to its event loop while the hart runs, so a background compile would
    // never be installed: compile at once (it stalls only this hart).
    jitSync: true,
    ...(init.jitThreshold ? { jitThreshold: init.jitThreshold } : {}),
  });
  post({ type: 'ready', hartId: init.hartId, jit: hart.jit && jitMemoryOf(buffer) !== undefined });

  let level = 0;
  /** Bring the platform's lines and IPIs, and the host SBI timer, into the hart. */
  const sync = (): void => {
    const t = c.f64[D.TIMER];
    if (t !== Infinity && time() >= t && !(Atomics.load(i32, W.MIP_LEVEL) & (1 << STIP)))
      Atomics.or(i32, W.MIP_LEVEL, 1 << STIP);
    const l = Atomics.load(i32, W.MIP_LEVEL);
    if (l !== level) {
      for (const b of LEVEL_BITS) if ((l ^ level) & (1 << b)) hart.setPending(b, (l & (1 << b)) !== 0);
      level = l;
    }
    if (Atomics.load(i32, W.MIP_EDGE) && Atomics.exchange(i32, W.MIP_EDGE, 0) & EDGE_BITS)
      hart.setPending(1, true);
  };
  const fence = (bits: number): void => {
    if (bits & Fence.TLB) hart.flushTlb();
    if (bits & Fence.ICACHE) hart.flushICache();
  };
  /** Do the fences asked of this hart and acknowledge them. */
  const fences = (): void => {
    const seq = Atomics.load(i32, W.FENCE_SEQ);
    if (seq === Atomics.load(i32, W.FENCE_ACK)) return;
    fence(Atomics.exchange(i32, W.FENCE, 0));
    Atomics.store(i32, W.FENCE_ACK, seq);
    Atomics.notify(i32, W.FENCE_ACK);
  };
  const setRun = (r: number): void => {
    if (Atomics.load(i32, W.RUN) === r) return;
    Atomics.store(i32, W.RUN, r);
    Atomics.notify(i32, W.RUN);
  };
  const start = (): void => {
    hart.reset(c.f64[D.START_PC]);
    hart.flushICache();
    for (let k = 0; k < 6; k++) hart.x[20 + k] = i32[W.START_REGS + k];
  };
  const harts = hartsOf(init.control);
  const others = Array.from({ length: harts }, (_, t) =>
    t === init.hartId ? c : new HartControl(init.control, t),
  );
  for (const o of others) o.attachKick(buffer);
  /**
   * The SBI calls a busy guest makes most, answered here without a round trip to the main thread:
   * set_timer (TIME, legacy) is this hart's deadline word and STIP, send_ipi sets SSIP edges, remote
   * fences go straight to the other workers (as the main thread's SBI would). False when the main thread
   * must answer.
   */
  const localSbi = (): boolean => {
    const x = hart.x;
    const eid = x[34] >>> 0;
    const fid = x[32];
    if (x[35] === 0 && ((eid === SBI_TIME && fid === 0 && x[33] === 0) || eid === 0)) {
      // Linux writes U64_MAX for "no timer"; 2^53 ticks or more is "never", as on the main thread.
      const hi = x[21] >>> 0;
      const deadline = hi >= 1 << 21 ? Infinity : hi * 2 ** 32 + (x[20] >>> 0);
      c.setTimer(deadline);
      c.setPending(STIP, time() >= deadline);
      x[20] = 0;
      x[21] = 0;
      if (eid !== 0) x[22] = x[23] = 0;
      sync();
      return true;
    }
    if (eid === SBI_RFENCE && fid >= 0 && fid <= 2 && x[33] === 0 && x[35] === 0) {
      const targets = hartsIn(x[20] >>> 0, x[21] >>> 0, x[22] >>> 0, x[23] >>> 0);
      if (targets) remoteFence(fid === 0 ? Fence.ICACHE : Fence.TLB, targets);
      x[20] = targets ? 0 : -3;
      x[21] = targets ? 0 : -1;
      x[22] = x[23] = 0;
      sync();
      return true;
    }
    if (eid === SBI_IPI && fid === 0 && x[33] === 0 && x[35] === 0) {
      const err = sendIpi(x[20] >>> 0, x[21] >>> 0, x[22] >>> 0, x[23] >>> 0);
      x[20] = err;
      x[21] = err < 0 ? -1 : 0;
      x[22] = x[23] = 0;
      sync();
      return true;
    }
    return false;
  };
  /** The harts an SBI (hart_mask, hart_mask_base) pair names; null (SBI_ERR_INVALID_PARAM) if one does not exist. */
  const hartsIn = (maskLo: number, maskHi: number, baseLo: number, baseHi: number): number[] | null => {
    if (baseLo === 0xffffffff && baseHi === 0xffffffff) return others.map((_, t) => t);
    const targets: number[] = [];
    for (let b = 0; b < 64; b++) {
      if (!((b < 32 ? maskLo >>> b : maskHi >>> (b - 32)) & 1)) continue;
      const t = baseHi === 0 ? baseLo + b : Infinity;
      if (t >= harts) return null;
      targets.push(t);
    }
    return targets;
  };
  /** SBI send_ipi(hart_mask, hart_mask_base): 0, or SBI_ERR_INVALID_PARAM with no IPI sent. */
  const sendIpi = (maskLo: number, maskHi: number, baseLo: number, baseHi: number): number => {
    const targets = hartsIn(maskLo, maskHi, baseLo, baseHi);
    if (!targets) return -3;
    for (const t of targets) others[t].setPending(1, true);
    return 0;
  };
  /**
   * SBI remote FENCE.I or SFENCE.VMA (with or without an ASID: a full TLB flush is always correct) on
   * `targets`: this hart asks the others through their fence words and waits for their acknowledgements
   * itself. Through the main thread each one took ~0.3 ms (two wake-ups of its event loop besides the
   * targets'), and the desktop's start-up makes ~2,800 of them.
   */
  const remoteFence = (bits: number, targets: readonly number[]): void => {
    const waits: [HartControl, number][] = [];
    for (const t of targets) {
      if (t === init.hartId) continue;
      const o = others[t];
      const seq = o.postFence(bits);
      // A hart in WFI runs no instruction before its loop has done its fences: it reads them after it
      // says RUNNING (see wfi), and this hart reads RUN after asking, so one of the two sees the
      // other's store. Waking it (~45 µs on this VM) and waiting for its answer bought nothing: on the
      // desktop's start-up 1,400 of 1,800 remote fences went to a hart in WFI.
      if (o.run === HartRun.WFI) continue;
      o.ring();
      waits.push([o, seq]);
    }
    if (targets.includes(init.hartId)) fence(bits);
    // A worker that never answers is given up on after 5 s, as the main thread does.
    const end = performance.now() + 5000;
    for (const [o, seq] of waits) {
      // A running hart answers within a few instructions of its kick: look for a while before
      // sleeping, since a wake-up from Atomics.wait alone costs ~45 µs.
      const spin = performance.now() + FENCE_SPIN_MS;
      while (!o.fenced(seq) && performance.now() < spin) fences();
      while (!o.fenced(seq) && performance.now() < end) {
        // The target may itself be waiting for a fence of this hart: do it meanwhile, in short waits.
        fences();
        Atomics.wait(o.i32, W.FENCE_ACK, Atomics.load(o.i32, W.FENCE_ACK), 0.2);
      }
    }
  };
  /** An SBI call to the main thread: a0..a7 out, a0 and a1 back; fences asked meanwhile are done. */
  const sbi = (): void => {
    if (localSbi()) return;
    for (let k = 0; k < 16; k++) i32[W.SBI_REGS + k] = hart.x[20 + k];
    i32[W.MB_OP] = Op.SBI;
    Atomics.store(i32, W.MB_STATE, Mb.REQUEST);
    Atomics.notify(i32, W.MB_STATE);
    for (;;) {
      const bell = Atomics.load(i32, W.DOORBELL);
      // Another hart's remote fence may be waiting on this one while this one waits on the main thread.
      fences();
      if (Atomics.load(i32, W.MB_STATE) !== Mb.REQUEST) break;
      Atomics.wait(i32, W.DOORBELL, bell);
    }
    for (let k = 0; k < 4; k++) hart.x[20 + k] = i32[W.SBI_REGS + k];
    Atomics.store(i32, W.MB_STATE, Mb.IDLE);
  };
  const wfi = (): void => {
    setRun(HartRun.WFI);
    for (;;) {
      const bell = Atomics.load(i32, W.DOORBELL);
      sync();
      fences();
      if (hart.mip() & hart.mie || Atomics.load(i32, W.CMD) !== Cmd.NONE) break;
      const deadline = Math.min(c.f64[D.TIMER], hart.timerDeadline);
      let ms = deadline === Infinity ? Infinity : (deadline - time()) / tpm;
      if (ms <= 0) {
        // The deadline may have passed after sync() looked: look again, so that its interrupt is
        // pending now. (Waiting for the doorbell here lost the wake-up: a guest that slept often hung.)
        sync();
        if (hart.mip() & hart.mie) break;
        // Pending and not enabled: only the doorbell (a CSR write on another path, a device) can wake it.
        ms = Infinity;
      }
      Atomics.wait(i32, W.DOORBELL, bell, ms === Infinity ? Infinity : Math.max(ms, 0.05));
    }
    // Before any instruction runs the loop does fences() again, after this store: remote fences asked
    // of a hart in WFI are not waited for (see remoteFence).
    setRun(HartRun.RUNNING);
  };

  /** Snapshot: the hart's state into the exchange area (the main thread reads it once RUN is HELD). */
  const save = (): void => {
    if (!c.putExchange(encodeState(saveHart(hart) as unknown as StateValue)))
      throw new Error(`hart ${init.hartId}: its state does not fit the exchange area`);
  };
  /**
   * Restore: the state the main thread put in the exchange area, checked by restoreHart before anything
   * changes; a bad one leaves its message (naming the hart) there instead. Acknowledged either way.
   */
  const load = (): void => {
    const seq = Atomics.load(i32, W.STATE_SEQ);
    const got = c.takeExchange();
    try {
      if ('error' in got) throw new Error(`hart ${init.hartId}: no state to load`);
      restoreHart(hart, decodeState(got.bytes) as unknown as SavedState);
      // The lines as the restored hart has them: sync() then brings in any the platform holds otherwise.
      level = 0;
      for (const b of LEVEL_BITS) if (hart.mipHw & (1 << b)) level |= 1 << b;
      running = Atomics.load(i32, W.LOAD_RUN) !== 0;
      held = false;
      Atomics.store(i32, W.STATE_LEN, 0);
    } catch (e) {
      c.putExchange(
        new TextEncoder().encode(e instanceof Error ? e.message : String(e)).slice(0, 1024),
        true,
      );
    }
    Atomics.store(i32, W.STATE_ACK, seq);
    Atomics.notify(i32, W.STATE_ACK);
  };

  let running = false;
  let held = false;
  const kick = c.kick;
  for (;;) {
    // Cleared before anything is looked at: a ring from now on ends the next slice early.
    if (kick !== null) Atomics.store(kick, 0, 0);
    const bell = Atomics.load(i32, W.DOORBELL);
    const cmd = Atomics.exchange(i32, W.CMD, Cmd.NONE);
    if (cmd === Cmd.EXIT) break;
    if (cmd === Cmd.CRASH) throw new Error(`hart ${init.hartId}: fault injected by the machine (a test)`);
    if (cmd === Cmd.PARK) running = false;
    else if (cmd === Cmd.START) {
      start();
      running = true;
    } else if (cmd === Cmd.SAVE) {
      // The lines the platform raised since the last slice belong to the saved state.
      sync();
      save();
      held = true;
    } else if (cmd === Cmd.RESUME) held = false;
    else if (cmd === Cmd.LOAD) load();
    fences();
    if (held) {
      setRun(HartRun.HELD);
      Atomics.wait(i32, W.DOORBELL, bell);
      continue;
    }
    if (!running) {
      setRun(HartRun.PARKED);
      Atomics.wait(i32, W.DOORBELL, bell);
      continue;
    }
    setRun(HartRun.RUNNING);
    sync();
    const r = hart.run(init.slice);
    c.f64[D.INSTRET] = hart.instret;
    if (r === StopReason.Sbi) sbi();
    else if (r === StopReason.Wfi) wfi();
  }
  setRun(HartRun.EXITED);
}
