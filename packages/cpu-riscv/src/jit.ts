/**
 * The JIT: compiles hot regions of guest code to WebAssembly, from the entries of the decoded-instruction
 * cache (decode.ts). RV64 arithmetic is one wasm i64 operation; guest RAM, the registers and the TLB are
 * in the one WebAssembly.Memory the compiled code imports (memory.ts), so loads and stores are plain
 * wasm memory accesses after an inline TLB hit.
 *
 * A region is entered at one position of a physical page — one the run loop (interp.ts) arrived at by a
 * jump, from another page or after an instruction it executed, JIT_HOT times — and holds the straight-line
 * runs from it and from the in-page targets of its direct branches (breadth first, up to MAX_INSTS
 * instructions). Its function is `loop { block … block { br_table } run 0 } run 1 } … }`: a run falls
 * into the next, a forward branch is a `br` to the run's block and a backward one goes round the loop and
 * through the br_table, so loops inside a page never leave compiled code (chaining). Other pages, faults,
 * TLB misses, MMIO, misaligned accesses and every instruction without a handler here (CSRs, AMOs, F/D,
 * MULH*, system) go back to the run loop, which executes the instruction exactly as without the JIT.
 *
 * Exactness: every register write is stored to the hart's registers at once (wasm locals only cache
 * them), so the state before any instruction handed back is architectural. Each run starts with a check
 * of the remaining budget against its length, so a run never executes more instructions than asked:
 * instret and run() budgets stay exact and equal to the interpreter's. Interrupts are taken by the run
 * loop between runs, at page changes and after the instructions it executes, as without the JIT: an
 * interrupt waits at most one run() budget (the machine's slice, 20,000 instructions), and on shared RAM
 * (harts on threads) the same check also ends the run when another thread kicked the hart (HS_KICK).
 *
 * Coherence: a region depends only on the bytes of its physical page, never on translation (the virtual
 * page, the privilege's TLB sets, bare mode and the reservation are arguments), so the decoded-instruction
 * cache's rules cover it: a store into a decoded chunk — compiled stores check it inline and hand such a
 * store to the run loop — FENCE.I, reset and slot reuse drop the page's regions (JitCache.drop).
 */
import { SLOT_ENTRIES, type DecodeCache } from './decode-cache.js';
import { JIT_CODE_LIMIT, JIT_ENTRY } from './jit-cache.js';
import {
  ALIGN,
  AMO_OPS,
  emitDataOffset,
  emitSc,
  genericInWasm,
  LOADS,
  REENTER,
  REGION_PARAMS,
  STORES,
  type PageFn,
} from './jit-dispatch.js';
import { HOST_PARAMS, isFence, isHostCall, RESTART } from './jit-host.js';
import { Op } from './decode.js';
import { HS_F, HS_IO, HS_KICK, HS_PC, HS_RESV, HS_RESV_VAL, HS_X, type JitMemory } from './memory.js';
import { A, Bytes, HOST_TYPE, moduleBytes, T, W, type FnSpec } from './wasm.js';

/**
 * Arrivals at a position before the region entered there is compiled. Code that runs a few thousand
 * times costs less interpreted than compiled (a module, an instance, Liftoff, then TurboFan on another
 * core). With the JavaScript run loop interpreting, 2,048 was best (against 1,024: boot to init 7–20%
 * sooner; 512, 256 and 8,192 slower). With the interpreter in wasm (jit-interp.ts), a few times cheaper
 * per instruction, 8,192: boot to init 0.93–1.04 s against 2,048's 1.02–1.13 s with 11% less CPU (6 of 6
 * alternating pairs), the desktop usable 7.3 s against 7.6 s, the Linux workloads the same.
 */
export const JIT_HOT = 8192;
/** Instructions in one straight-line run between budget checks. */
const MAX_RUN = 64;
/** Per Op: bit 0 when it reads rs1, bit 1 when it reads rs2 (Emitter.ensureSources). */
const READS = new Uint8Array(256).fill(1);
for (const op of [Op.Nop, Op.Lui, Op.Li, Op.Auipc, Op.Jal, Op.J]) READS[op] = 0;
// prettier-ignore
for (const op of [
  Op.Beq, Op.Bne, Op.Blt, Op.Bge, Op.Bltu, Op.Bgeu, Op.Sb, Op.Sh, Op.Sw, Op.Sd,
  Op.Add, Op.Sub, Op.Sll, Op.Srl, Op.Sra, Op.Slt, Op.Sltu, Op.Xor, Op.Or, Op.And, Op.Mul,
  Op.Addw, Op.Subw, Op.Sllw, Op.Srlw, Op.Sraw, Op.Mulw, Op.Div, Op.Divu, Op.Rem, Op.Remu,
  Op.Divw, Op.Divuw, Op.Remw, Op.Remuw,
]) READS[op] = 3;

/** Instructions compiled into one region at most. */
const MAX_INSTS = 256;
/** 0, 1, 2, …: the label index of each of a region's entries (labels are at most one per instruction). */
const LABELS = Int32Array.from({ length: MAX_INSTS + 1 }, (_, k) => k);

/** What the compiler needs of the hart that asks (shared by the harts on one RAM). */
export interface JitTarget {
  readonly dcache: DecodeCache;
  readonly ramBase: number;
  /** Compile at once rather than in the background (HartOptions.jitSync). */
  readonly jitSync: boolean;
}

/**
 * Instructions the decoder leaves to the reference executor (Op.Generic, `inst` the 32-bit encoding)
 * that are compiled anyway: FLW/FLD/FSW/FSD (register saves in setjmp and context switches), LR, SC and
 * the AMOs but MIN/MAX (the locks of libc and the kernel), the CSR instructions (a call out to
 * jit-host.ts) and, on shared RAM, FENCE (wasm's atomic.fence).
 */
function compilesGeneric(inst: number): boolean {
  if (genericInWasm(inst)) return true;
  const opc = inst & 0x7f;
  const f3 = (inst >>> 12) & 7;
  return (f3 === 2 || f3 === 3) && (opc === 0x07 || opc === 0x27);
}

/** Handled here (everything else goes back to the run loop); `im` is the entry's immediate. */
const compiles = (m: number, im: number): boolean => {
  const op = m & 0xff;
  if (op === Op.Generic) return compilesGeneric(im);
  return m !== 0 && op > Op.Cross && (op < Op.Mulh || op > Op.Mulhu);
};
const mLen = (m: number): number => m >>> 26;

/** An unconditional transfer: a straight-line run ends after it. */
const endsRun = (op: number): boolean => op === Op.Jal || op === Op.J || op === Op.Jalr || op === Op.Jr;

/** The in-page target of a direct branch or jump at `p`, or -1. */
function directTarget(op: number, p: number, im: number): number {
  if (op !== Op.Jal && op !== Op.J && (op < Op.Beq || op > Op.Bgeu)) return -1;
  const t = p + im;
  return t >= 0 && t < 4096 ? t : -1;
}

/** Compiled here, and not yet the entry of another region of the page (that code is not compiled twice). */
/**
 * Decode indices that are labels of regions built earlier in the batch being built (compileQueued):
 * entries once the batch is installed, so later regions of the batch stop there too.
 */
const claimed = new Set<number>();
/** Index i (meta word m) enters a region, or will when the batch being built is installed. */
const entered = (i: number, m: number): boolean => (m & JIT_ENTRY) !== 0 || claimed.has(i);
const fresh = (i: number, m: number, im: number): boolean => compiles(m, im) && !entered(i, m);

/**
 * The labels of the region entered at page offset `entry`: the entry, then (breadth first) the in-page
 * targets of its direct branches and of theirs, and where runs cut at MAX_RUN go on, within MAX_INSTS
 * instructions; `rest`, the labels found but left out by that bound. The region is entered at each
 * label (jit-dispatch.ts LABEL_SHIFT). A run ends where another region of the page is entered, and
 * goes there through the dispatcher: a page's code is compiled about once, not once per way in (on a
 * boot, 25% fewer instructions compiled; making the points calls return to labels as well compiled 40%
 * more code for 2% fewer instructions interpreted, and was dropped).
 */
function chooseLabels(dc: DecodeCache, base: number, entry: number): { labels: number[]; rest: number[] } {
  const meta = dc.meta;
  const imm = dc.imm;
  const seen = new Uint8Array(2048);
  const work = [entry];
  seen[entry >>> 1] = 1;
  let insts = 0;
  let w = 0;
  for (; w < work.length && insts < MAX_INSTS; w++) {
    const start = work[w];
    let p = start;
    const follow = (q: number): void => {
      if (
        q < 4096 &&
        !seen[q >>> 1] &&
        fresh(base + (q >>> 1), meta[base + (q >>> 1)], imm[base + (q >>> 1)])
      ) {
        seen[q >>> 1] = 1;
        work.push(q);
      }
    };
    for (let k = 0; p < 4096; k++) {
      if (k === MAX_RUN) {
        // A long straight line (an unrolled hash, say) goes on in the next run of the region.
        follow(p);
        break;
      }
      const m = meta[base + (p >>> 1)];
      if (!compiles(m, imm[base + (p >>> 1)])) {
        // The run loop executes it (a CSR access, MULH, an FP operation…); what follows is a label,
        // where the run loop comes back into compiled code (it interpreted up to the next entry).
        if (m !== 0 && (m & 0xff) !== Op.NextPage) follow(p + mLen(m));
        break;
      }
      if (p !== start && (seen[p >>> 1] || entered(base + (p >>> 1), m))) break;
      const op = m & 0xff;
      const t = directTarget(op, p, imm[base + (p >>> 1)]);
      if (
        t >= 0 &&
        !seen[t >>> 1] &&
        fresh(base + (t >>> 1), meta[base + (t >>> 1)], imm[base + (t >>> 1)])
      ) {
        seen[t >>> 1] = 1;
        work.push(t);
      }
      insts++;
      if (endsRun(op)) break;
      p += mLen(m);
    }
  }
  return { labels: work.slice(0, w).sort((a, b) => a - b), rest: work.slice(w) };
}

/**
 * Ops that cannot leave compiled code or let anything read the hart's registers (no memory access, no
 * branch, no call out): between two of them nothing observes the registers in the hart.
 */
const ALU_ONLY = new Uint8Array(256);
for (let op = Op.Li; op <= Op.Remuw; op++) ALU_ONLY[op] = 1;
ALU_ONLY[Op.Lui] = ALU_ONLY[Op.Auipc] = 1;
const DEAD = new Uint8Array(MAX_INSTS);
const writtenLater = new Uint8Array(32);

/**
 * For the run of instructions at page offsets `ps`: DEAD[i] = 1 when instruction i is an ALU instruction
 * whose destination is written again by a later instruction, with only ALU instructions from i to it.
 * Compiled code stores every register write to the hart at once (so that any exit sees architectural
 * state); such a store can never be observed. Unrolled hashes and arithmetic reuse temporaries this way.
 */
function deadWrites(ps: readonly number[], meta: Int32Array, base: number): Uint8Array {
  writtenLater.fill(0);
  for (let i = ps.length - 1; i >= 0; i--) {
    const m = meta[base + (ps[i] >>> 1)];
    const op = m & 0xff;
    DEAD[i] = 0;
    if (!ALU_ONLY[op]) {
      writtenLater.fill(0);
      continue;
    }
    const rd = (m >>> 9) & 31;
    if (op === Op.Nop || rd === 0) continue;
    if (writtenLater[rd]) DEAD[i] = 1;
    writtenLater[rd] = 1;
  }
  return DEAD;
}

// Parameters and locals of a region's function.
const P_HS = 0;
/** The index of the label to start at. */
const P_LABEL = 1;
const P_N = 2;
const P_BUDGET = 3;
const P_PAGELO = 4;
const P_PCHI = 5;
/** Bit 0: data addresses are physical; bit 1: the FPU is on (mstatus.FS); bit 2: FS is Dirty. */
const P_MODE = 6;
const P_DR = 7;
const P_DW = 8;
/** i32 scratch: the dispatch index, a RAM offset, a TLB index, a slot. */
const L_K = 9;
const L_O = 10;
const L_J = 11;
const L_S = 12;
const I32_LOCALS = 4;
/** i64: the virtual address of the page, an effective address, a translated offset, then x1..x31. */
const L_PC = 13;
const L_A = 14;
const L_T = 15;
const reg = (r: number): number => 15 + r;
/** emitDataOffset's locals for loads and for stores. */
const DATA_R = { hs: P_HS, mode: P_MODE, set: P_DR, j: L_J, o: L_O, addr: L_A, t: L_T };
const DATA_W = { ...DATA_R, set: P_DW };
const I64_LOCALS = 3 + 31;

/** Emits the body of one region's function. */
class Emitter {
  readonly c = new Bytes(4096);
  /** Blocks and ifs open around the code being emitted, inside the current run's block nest. */
  private extra = 0;
  /** The run being emitted (its label index). */
  private cur = 0;

  constructor(
    private readonly jm: JitMemory,
    private readonly ramBase: number,
    private readonly labels: number[],
    private readonly labelIndex: Map<number, number>,
  ) {}

  /**
   * Registers whose local holds their value in the run being emitted: loaded from the hart on first
   * use in a run rather than all on entry (the hart's copy is always current, since every write goes
   * through), which keeps each value's live range to one run. A region is entered for ~28
   * instructions on a shell loop, and loading every register it might read cost more than the run.
   */
  private readonly loaded = new Uint8Array(32);

  /** Make register r's local valid for the rest of the run (call where code runs unconditionally). */
  private ensure(r: number): void {
    if (r === 0 || this.loaded[r]) return;
    this.c
      .get(P_HS)
      .mem(W.I64Load, 3, HS_X + 8 * r)
      .set(reg(r));
    this.loaded[r] = 1;
  }

  /** Push register r's value (from the hart when its local is not valid here). */
  private x(r: number): void {
    if (r === 0) this.c.i64(0);
    else if (this.loaded[r]) this.c.get(reg(r));
    else this.c.get(P_HS).mem(W.I64Load, 3, HS_X + 8 * r);
  }

  /**
   * The instruction being emitted writes a register that a later instruction of the same stretch of
   * ALU instructions writes again: nothing can observe this value in the hart, so it stays in its local.
   */
  private deadStore = false;

  /** Pop a value into register rd (never x0) and store it to the hart at once. Unconditional code only. */
  private setX(rd: number): void {
    this.loaded[rd] = 1;
    if (this.deadStore) {
      this.c.set(reg(rd));
      return;
    }
    this.c
      .set(reg(rd))
      .get(P_HS)
      .get(reg(rd))
      .mem(W.I64Store, 3, HS_X + 8 * rd);
  }

  private open(t: T, kind: W.If | W.Block = W.If): void {
    this.c.op(kind).byte(t);
    this.extra++;
  }

  private close(): void {
    this.c.op(W.End);
    this.extra--;
  }

  /**
   * Hand back: `rem` of the run's counted instructions were not executed; continue at page offset p —
   * by executing the instruction there on the interpreter, or (`reenter`, for a jump to a position this
   * region does not hold) by entering whatever compiled code starts there.
   */
  private leave(rem: number, p: number, reenter = false): void {
    this.c.get(P_HS).get(P_N);
    if (rem) this.c.i32(rem).op(W.I32Sub);
    this.c
      .mem(W.I32Store, 2, HS_IO)
      .i32(reenter ? p | REENTER : p)
      .op(W.Return);
  }

  /** Go to in-page offset t after discounting `rem` instructions: within the region when it is a label. */
  private goto(rem: number, t: number): void {
    const j = this.labelIndex.get(t);
    if (j === undefined) {
      this.leave(rem, t, true);
      return;
    }
    if (rem) this.c.get(P_N).i32(rem).op(W.I32Sub).set(P_N);
    const n = this.labels.length;
    if (j > this.cur) this.c.op(W.Br).u(j - this.cur - 1 + this.extra);
    else
      this.c
        .i32(j)
        .set(L_K)
        .op(W.Br)
        .u(n - 1 - this.cur + this.extra);
  }

  /** Leave the page for virtual address (page + t) after discounting `rem` instructions. */
  private gotoFar(rem: number, t: number): void {
    this.c.get(P_HS).get(L_PC).i64(t).op(W.I64Add).mem(W.I64Store, 3, HS_PC);
    this.c.get(P_HS).get(P_N);
    if (rem) this.c.i32(rem).op(W.I32Sub);
    this.c.mem(W.I32Store, 2, HS_IO).i32(-1).op(W.Return);
  }

  /**
   * L_A = the effective address; L_O = its RAM offset for an access of `size` through TLB set param
   * `set`, or hand back (before the instruction) when it is not a plain aligned RAM access.
   */
  private translate(r1: number, im: number, size: number, set: number, rem: number, p: number): void {
    const c = this.c;
    this.x(r1);
    if (im) c.i64(im).op(W.I64Add);
    c.set(L_A);
    emitDataOffset(c, set === P_DR ? DATA_R : DATA_W, this.ramBase, this.jm.ramSize, size);
    this.open(T.Void);
    this.leave(rem, p);
    this.close();
  }

  /** Emit the run starting at label index `k`. */
  run(k: number, dc: DecodeCache, base: number): void {
    const { meta, imm } = dc;
    const start = this.labels[k];
    const next = k + 1 < this.labels.length ? this.labels[k + 1] : -1;
    this.cur = k;
    const ps: number[] = [];
    let p = start;
    let tail: 'fall' | 'leave' | 'jump' = 'leave';
    while (p < 4096) {
      if (p !== start && p === next) {
        tail = 'fall';
        break;
      }
      const m = meta[base + (p >>> 1)];
      if (p !== start && (this.labelIndex.has(p) || entered(base + (p >>> 1), m))) break;
      if (!compiles(m, imm[base + (p >>> 1)]) || ps.length === MAX_RUN) break;
      ps.push(p);
      if (endsRun(m & 0xff)) {
        tail = 'jump';
        break;
      }
      p += mLen(m);
    }
    const len = ps.length;
    const c = this.c;
    this.loaded.fill(0);
    // if (n > budget - len) hand back at the start; n += len. On shared RAM also when kicked.
    c.get(P_N).get(P_BUDGET).i32(len).op(W.I32Sub).op(W.I32GtS);
    if (this.jm.shared) c.get(P_HS).mem(W.I32Load, 2, HS_KICK).op(W.I32Or);
    this.open(T.Void);
    this.leave(0, start);
    this.close();
    c.get(P_N).i32(len).op(W.I32Add).set(P_N);
    // Stores made dead by a later write in the same stretch of ALU instructions (no exit in between).
    const dead = deadWrites(ps, meta, base);
    for (let i = 0; i < len; i++) {
      const q = ps[i];
      this.deadStore = dead[i] === 1;
      this.inst(q, meta[base + (q >>> 1)], imm[base + (q >>> 1)], len - i);
    }
    this.deadStore = false;
    if (tail === 'leave') {
      if (p >= 4096) this.leave(0, 4096);
      else this.goto(0, p);
    }
  }

  /** One instruction at page offset p; `rem` counted instructions of the run are from it on. */
  private inst(p: number, m: number, im: number, rem: number): void {
    const c = this.c;
    const op = m & 0xff;
    const rd = (m >>> 9) & 31;
    const r1 = (m >>> 15) & 31;
    const r2 = (m >>> 21) & 31;
    const ilen = mLen(m);
    this.ensureSources(op, r1, r2, im);
    switch (op) {
      case Op.Nop:
        return;
      case Op.Lui:
      case Op.Li:
        c.i64(im | 0);
        this.setX(rd);
        return;
      case Op.Auipc:
        c.get(L_PC)
          .i64(p + im)
          .op(W.I64Add);
        this.setX(rd);
        return;
      case Op.Jal:
      case Op.J: {
        if (op === Op.Jal) {
          c.get(L_PC)
            .i64(p + ilen)
            .op(W.I64Add);
          this.setX(rd);
        }
        const t = p + im;
        if (t >= 0 && t < 4096) this.goto(rem - 1, t);
        else this.gotoFar(rem - 1, t);
        return;
      }
      case Op.Jalr:
      case Op.Jr: {
        // Target first: rd may be rs1.
        this.x(r1);
        c.i64(im).op(W.I64Add).i64(-2).op(W.I64And).set(L_A);
        if (op === Op.Jalr) {
          c.get(L_PC)
            .i64(p + ilen)
            .op(W.I64Add);
          this.setX(rd);
        }
        c.get(P_N)
          .i32(rem - 1)
          .op(W.I32Sub)
          .set(P_N);
        // In this page: back to the run loop at that offset (the target is not known here); else leave.
        c.get(L_A).i64(-4096).op(W.I64And).get(L_PC).op(W.I64Eq);
        this.open(T.Void);
        c.get(P_HS).get(P_N).mem(W.I32Store, 2, HS_IO).get(L_A).op(W.I32WrapI64).i32(4095).op(W.I32And);
        c.i32(REENTER).op(W.I32Or).op(W.Return);
        this.close();
        c.get(P_HS).get(L_A).mem(W.I64Store, 3, HS_PC);
        c.get(P_HS).get(P_N).mem(W.I32Store, 2, HS_IO).i32(-1).op(W.Return);
        return;
      }
      case Op.Beq:
      case Op.Bne:
      case Op.Blt:
      case Op.Bge:
      case Op.Bltu:
      case Op.Bgeu: {
        this.x(r1);
        this.x(r2);
        const cmp = [W.I64Eq, W.I64Ne, W.I64LtS, W.I64GeS, W.I64LtU, W.I64GeU][op - Op.Beq];
        c.op(cmp);
        this.open(T.Void);
        const t = p + im;
        if (t >= 0 && t < 4096) this.goto(rem - 1, t);
        else this.gotoFar(rem - 1, t);
        this.close();
        return;
      }
      case Op.Lb:
      case Op.Lh:
      case Op.Lw:
      case Op.Ld:
      case Op.Lbu:
      case Op.Lhu:
      case Op.Lwu: {
        const [ld, size] = LOADS[op];
        this.translate(r1, im, size, P_DR, rem, p);
        c.get(L_O).mem(ld, ALIGN[size], 0);
        this.setX(rd);
        return;
      }
      case Op.Sb:
      case Op.Sh:
      case Op.Sw:
      case Op.Sd: {
        const [st, size] = STORES[op];
        this.translate(r1, im, size, P_DW, rem, p);
        this.codeCheck(rem, p);
        this.resvCheck(rem, p);
        c.get(L_O);
        this.x(r2);
        c.mem(st, ALIGN[size], 0);
        return;
      }
      case Op.Mv:
        this.x(r1);
        this.setX(rd);
        return;
      case Op.Addi:
      case Op.Slti:
      case Op.Sltiu:
      case Op.Xori:
      case Op.Ori:
      case Op.Andi:
        this.x(r1);
        c.i64(im);
        this.alu(op - Op.Addi);
        this.setX(rd);
        return;
      case Op.SlliLo:
      case Op.SlliHi:
      case Op.SrliLo:
      case Op.SrliHi:
      case Op.SraiLo:
      case Op.SraiHi:
        this.x(r1);
        c.i64(im);
        c.op(op <= Op.SlliHi ? W.I64Shl : op <= Op.SrliHi ? W.I64ShrU : W.I64ShrS);
        this.setX(rd);
        return;
      case Op.Add:
      case Op.Sub:
      case Op.Sll:
      case Op.Srl:
      case Op.Sra:
      case Op.Slt:
      case Op.Sltu:
      case Op.Xor:
      case Op.Or:
      case Op.And:
      case Op.Mul: {
        this.x(r1);
        this.x(r2);
        const w = [W.I64Add, W.I64Sub, W.I64Shl, W.I64ShrU, W.I64ShrS, 0, 0, W.I64Xor, W.I64Or, W.I64And];
        if (op === Op.Mul) c.op(W.I64Mul);
        else if (op === Op.Slt) c.op(W.I64LtS).op(W.I64ExtendI32U);
        else if (op === Op.Sltu) c.op(W.I64LtU).op(W.I64ExtendI32U);
        else c.op(w[op - Op.Add]);
        this.setX(rd);
        return;
      }
      case Op.Addiw:
      case Op.Slliw:
      case Op.Srliw:
      case Op.Sraiw:
        this.x(r1);
        c.op(W.I32WrapI64).i32(im);
        c.op([W.I32Add, W.I32Shl, W.I32ShrU, W.I32ShrS][op - Op.Addiw]);
        c.op(W.I64ExtendI32S);
        this.setX(rd);
        return;
      case Op.Addw:
      case Op.Subw:
      case Op.Sllw:
      case Op.Srlw:
      case Op.Sraw:
      case Op.Mulw:
        this.x(r1);
        c.op(W.I32WrapI64);
        this.x(r2);
        c.op(W.I32WrapI64);
        c.op(op === Op.Mulw ? W.I32Mul : [W.I32Add, W.I32Sub, W.I32Shl, W.I32ShrU, W.I32ShrS][op - Op.Addw]);
        c.op(W.I64ExtendI32S);
        this.setX(rd);
        return;
      case Op.Div:
      case Op.Divu:
      case Op.Rem:
      case Op.Remu:
        this.div64(op, r1, r2);
        this.setX(rd);
        return;
      case Op.Divw:
      case Op.Divuw:
      case Op.Remw:
      case Op.Remuw:
        this.div32(op, r1, r2);
        this.setX(rd);
        return;
      case Op.Generic:
        this.generic(p, im, rem);
        return;
      default:
        // Not reached: chooseLabels compiles only what compiles() accepts.
        this.leave(rem, p);
    }
  }

  /** Load the registers instruction `op` reads, before any conditional code of it. */
  private ensureSources(op: number, r1: number, r2: number, im: number): void {
    if (op === Op.Generic) {
      if (isHostCall(im)) return; // the host reads its operand from the hart
      // Raw fields: for the forms without rs2 (FLW/FLD, LR) the second is a wasted load, no more.
      this.ensure((im >>> 15) & 31);
      if ((im & 0x7f) === 0x2f) this.ensure((im >>> 20) & 31);
      return;
    }
    const reads = READS[op];
    if (reads & 1) this.ensure(r1);
    if (reads & 2) this.ensure(r2);
  }

  /** A store into decoded code (RAM offset L_O) is the run loop's: it drops the chunk and this region. */
  private codeCheck(rem: number, p: number): void {
    const c = this.c;
    c.get(L_O).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl).mem(W.I32Load, 2, this.jm.pageSlot).tee(L_S);
    c.i32(0).op(W.I32GeS);
    this.open(T.Void);
    c.get(L_S).i32(2).op(W.I32Shl).mem(W.I32Load, 2, this.jm.codeMask);
    c.i32(1).get(L_O).i32(7).op(W.I32ShrU).op(W.I32Shl).op(W.I32And);
    this.open(T.Void);
    this.leave(rem, p);
    this.close();
    this.close();
  }

  /**
   * A store within 8 bytes of the reservation is the run loop's: it drops the reservation. (With none,
   * the cell is -1 and stores to RAM offsets 0..6 go back too — harmless, and one test fewer.)
   */
  private resvCheck(rem: number, p: number): void {
    const c = this.c;
    c.get(L_O).get(P_HS).mem(W.I32Load, 2, HS_RESV).op(W.I32Sub).i32(7).op(W.I32Add).i32(15).op(W.I32LtU);
    this.open(T.Void);
    this.leave(rem, p);
    this.close();
  }

  /**
   * A CSR instruction: a call to jit-host.ts's hostCall, which executes it with the count of instructions
   * done through it; its RESTART hands back (count and pc already in the hart).
   */
  private hostCall(p: number, inst: number, rem: number): void {
    const c = this.c;
    c.i32(inst).get(P_PAGELO).get(P_PCHI).i32(p).get(P_N);
    if (rem > 1) c.i32(rem - 1).op(W.I32Sub);
    // Through entry 0 of the host table (table 0: moduleBytes with HostSpec.table).
    c.i32(0).op(W.CallIndirect).u(HOST_TYPE).u(0);
    this.open(T.Void);
    c.i32(RESTART).op(W.Return);
    this.close();
    // The register it wrote is in the hart only.
    this.loaded[(inst >>> 7) & 31] = 0;
  }

  /** The compiled Op.Generic instructions (compilesGeneric): FP loads and stores, LR, SC, AMOs, CSRs. */
  private generic(p: number, inst: number, rem: number): void {
    if (isHostCall(inst)) {
      this.hostCall(p, inst, rem);
      return;
    }
    if (isFence(inst)) {
      this.c.atomicFence();
      return;
    }
    const c = this.c;
    const opc = inst & 0x7f;
    const rd = (inst >>> 7) & 31;
    const r1 = (inst >>> 15) & 31;
    const r2 = (inst >>> 20) & 31;
    const size = ((inst >>> 12) & 7) === 2 ? 4 : 8;
    const al = size === 4 ? 2 : 3;
    const wide = size === 8 ? 1 : 0;
    if (opc === 0x07 || opc === 0x27) {
      // Off, the instruction is illegal; a load makes FS Dirty: both are the run loop's.
      c.get(P_MODE)
        .i32(opc === 0x07 ? 4 : 2)
        .op(W.I32And)
        .op(W.I32Eqz);
      this.open(T.Void);
      this.leave(rem, p);
      this.close();
      if (opc === 0x07) {
        this.translate(r1, inst >> 20, size, P_DR, rem, p);
        c.get(P_HS).get(L_O);
        if (size === 4)
          c.mem(W.I64Load32U, 2, 0).i64(-0x100000000).op(W.I64Or); // NaN-boxed
        else c.mem(W.I64Load, 3, 0);
        c.mem(W.I64Store, 3, HS_F + 8 * rd);
      } else {
        this.translate(r1, ((inst >> 25) << 5) | ((inst >>> 7) & 31), size, P_DW, rem, p);
        this.codeCheck(rem, p);
        this.resvCheck(rem, p);
        c.get(L_O)
          .get(P_HS)
          .mem(W.I64Load, 3, HS_F + 8 * r2);
        c.mem(size === 4 ? W.I64Store32 : W.I64Store, al, 0);
      }
      return;
    }
    const f5 = inst >>> 27;
    if (f5 === 2) {
      // LR: the reservation is the RAM offset and the value loaded (SC compares it on shared RAM).
      this.translate(r1, 0, size, P_DR, rem, p);
      c.get(L_O).atomic(A.I32Load + wide, al, 0);
      if (size === 4) c.op(W.I64ExtendI32S);
      c.set(L_T);
      c.get(P_HS).get(L_O).mem(W.I32Store, 2, HS_RESV);
      c.get(P_HS).get(L_T).mem(W.I64Store, 3, HS_RESV_VAL);
      if (rd) {
        c.get(L_T);
        this.setX(rd);
      }
      return;
    }
    this.translate(r1, 0, size, P_DW, rem, p);
    this.codeCheck(rem, p);
    if (f5 === 3) {
      emitSc(c, { hs: P_HS, o: L_O, s: L_S }, this.jm.shared, size, () => this.x(r2));
      if (rd) {
        c.op(W.I64ExtendI32U);
        this.setX(rd);
      } else c.op(W.Drop);
      return;
    }
    this.resvCheck(rem, p);
    c.get(L_O);
    this.x(r2);
    if (size === 4) c.op(W.I32WrapI64);
    c.atomic(AMO_OPS[f5]! + wide, al, 0);
    if (size === 4) c.op(W.I64ExtendI32S);
    if (rd) this.setX(rd);
    else c.op(W.Drop);
  }

  /** The immediate ALU ops in Addi..Andi order, on (a, b) pushed. */
  private alu(k: number): void {
    const c = this.c;
    switch (k) {
      case 0:
        c.op(W.I64Add);
        return;
      case 1:
        c.op(W.I64LtS).op(W.I64ExtendI32U);
        return;
      case 2:
        c.op(W.I64LtU).op(W.I64ExtendI32U);
        return;
      case 3:
        c.op(W.I64Xor);
        return;
      case 4:
        c.op(W.I64Or);
        return;
      default:
        c.op(W.I64And);
    }
  }

  /** RISC-V division: by zero gives all ones (quotient) or the dividend (remainder); MIN / -1 gives MIN. */
  private div64(op: number, r1: number, r2: number): void {
    const c = this.c;
    const rem = op === Op.Rem || op === Op.Remu;
    this.x(r2);
    c.op(W.I64Eqz);
    c.op(W.If).byte(T.I64);
    if (rem) this.x(r1);
    else c.i64(-1);
    c.op(W.Else);
    if (op === Op.Div) {
      // MIN / -1 traps in wasm; RISC-V gives MIN (the dividend).
      this.x(r1);
      c.i64(-(2n ** 63n)).op(W.I64Eq);
      this.x(r2);
      c.i64(-1).op(W.I64Eq).op(W.I32And);
      c.op(W.If).byte(T.I64);
      this.x(r1);
      c.op(W.Else);
      this.x(r1);
      this.x(r2);
      c.op(W.I64DivS);
      c.op(W.End);
    } else {
      this.x(r1);
      this.x(r2);
      c.op(op === Op.Divu ? W.I64DivU : op === Op.Rem ? W.I64RemS : W.I64RemU);
    }
    c.op(W.End);
  }

  private div32(op: number, r1: number, r2: number): void {
    const c = this.c;
    const rem = op === Op.Remw || op === Op.Remuw;
    this.x(r2);
    c.op(W.I32WrapI64).op(W.I32Eqz);
    c.op(W.If).byte(T.I32);
    if (rem) {
      this.x(r1);
      c.op(W.I32WrapI64);
    } else c.i32(-1);
    c.op(W.Else);
    if (op === Op.Divw) {
      this.x(r1);
      c.op(W.I32WrapI64).i32(-0x80000000).op(W.I32Eq);
      this.x(r2);
      c.op(W.I32WrapI64).i32(-1).op(W.I32Eq).op(W.I32And);
      c.op(W.If).byte(T.I32);
      c.i32(-0x80000000);
      c.op(W.Else);
      this.x(r1);
      c.op(W.I32WrapI64);
      this.x(r2);
      c.op(W.I32WrapI64).op(W.I32DivS);
      c.op(W.End);
    } else {
      this.x(r1);
      c.op(W.I32WrapI64);
      this.x(r2);
      c.op(W.I32WrapI64);
      c.op(op === Op.Divuw ? W.I32DivU : op === Op.Remw ? W.I32RemS : W.I32RemU);
    }
    c.op(W.End);
    c.op(W.I64ExtendI32S);
  }
}

/** Regions queued before a batch is compiled at once. */
const BATCH = 32;
/**
 * When the run loop returns, what is queued is compiled once this many regions wait or the first has
 * waited FLUSH_MS. A module costs about 0.35 ms on top of about 0.13 ms a region (fitted from the
 * desktop's compile times): compiling the queue at every return made modules of two regions on
 * average, and waiting for 16 or 4 ms halved the modules (1,650 to 890) and cut the compile time on
 * the hart's thread by 27% (boot to init 7–16% sooner over 14 alternating rounds; desktop 3 of 4 pairs
 * sooner).
 */
const FLUSH_REGIONS = 16;
const FLUSH_MS = 4;

/**
 * Queue the region of decode-cache slot `slot` entered at page offset `entry` for compilation; the
 * batch is compiled when it is full, or later when the run loop returns ({@link compileQueuedLater}).
 */
export function compileRegion(t: JitTarget, slot: number, entry: number): void {
  const dc = t.dcache;
  const jit = dc.jit;
  if (!jit) return;
  const i = slot * SLOT_ENTRIES + (entry >>> 1);
  // The count starts again whatever happens: a position whose region is dropped (a store into its
  // chunk, FENCE.I, a full cache) is compiled again after another JIT_HOT arrivals, and one that cannot
  // be compiled is tried again only that often.
  jit.heat[i] = 0;
  const m0 = dc.meta[i];
  if (!compiles(m0, dc.imm[i]) || m0 & JIT_ENTRY || jit.disabled) return;
  if (jit.pending.length === 0) jit.pendingSince = performance.now();
  jit.pending.push(i);
  if (jit.pending.length >= BATCH) compileQueued(t, t.jitSync);
}

/** At the run loop's return: compile the queue if FLUSH_REGIONS regions wait or the first waited FLUSH_MS. */
export function compileQueuedLater(t: JitTarget): void {
  const jit = t.dcache.jit;
  if (!jit || jit.pending.length === 0) return;
  if (jit.pending.length >= FLUSH_REGIONS || performance.now() - jit.pendingSince >= FLUSH_MS)
    compileQueued(t, t.jitSync);
}

/**
 * The function of the region entered at page offset `entry` of slot `slot`, and its labels (page
 * offsets; the function takes the index of the one to start at as its second argument).
 */
function regionFn(
  t: JitTarget,
  jm: JitMemory,
  slot: number,
  entry: number,
): { fn: FnSpec; labels: number[]; rest: number[] } {
  const dc = t.dcache;
  const base = slot * SLOT_ENTRIES;
  const { labels, rest } = chooseLabels(dc, base, entry);
  const labelIndex = new Map<number, number>();
  labels.forEach((p, k) => labelIndex.set(p, k));
  const e = new Emitter(jm, t.ramBase, labels, labelIndex);
  const body = e.c;
  const n = labels.length;
  body.op(W.Loop).byte(T.Void);
  for (let k = 0; k < n; k++) body.op(W.Block).byte(T.Void);
  body.get(L_K).op(W.BrTable).u(n);
  for (let k = 0; k < n; k++) body.u(k);
  body.u(0);
  for (let k = 0; k < n; k++) {
    body.op(W.End);
    e.run(k, dc, base);
  }
  body.op(W.End);
  body.op(W.Unreachable);
  // The prologue: the page's virtual address; the label to start at is the second argument (registers
  // load lazily, per run).
  const c = new Bytes(body.length + 64);
  c.get(P_PCHI)
    .op(W.I64ExtendI32S)
    .i64(32)
    .op(W.I64Shl)
    .get(P_PAGELO)
    .op(W.I64ExtendI32U)
    .op(W.I64Or)
    .set(L_PC);
  c.get(P_LABEL).set(L_K);
  c.bytes(body.view());
  return {
    fn: {
      params: REGION_PARAMS,
      locals: [
        [I32_LOCALS, T.I32],
        [I64_LOCALS, T.I64],
      ],
      code: c,
    },
    labels,
    rest,
  };
}

/**
 * Compile the queued regions into one module: at once, or (`sync` false) in the background, installing
 * them when the module is ready. A region whose page lost its decoded instructions meanwhile (a store
 * into it, FENCE.I, the slot handed to another page: the slot's epoch moved on) is not installed, and
 * neither is one whose position was compiled by another batch.
 */
export function compileQueued(t: JitTarget, sync: boolean): void {
  const dc = t.dcache;
  const jit = dc.jit;
  if (!jit || jit.pending.length === 0) return;
  const queued = jit.pending.splice(0);
  if (jit.disabled) return;
  const jm = jit.jm;
  const t0 = performance.now();
  const fns: FnSpec[] = [];
  const at: number[] = [];
  const entries: number[][] = [];
  const epochs: number[] = [];
  claimed.clear();
  for (let q = 0; q < queued.length; q++) {
    const i = queued[q];
    const m = dc.meta[i];
    if (!compiles(m, dc.imm[i]) || entered(i, m)) continue;
    const slot = Math.floor(i / SLOT_ENTRIES);
    const base = slot * SLOT_ENTRIES;
    const r = regionFn(t, jm, slot, (i - base) * 2);
    fns.push(r.fn);
    at.push(i);
    const e = r.labels.map((p) => base + (p >>> 1));
    for (const j of e) claimed.add(j);
    // What the region found but had no room for runs when it does: compile it in the same batch (a long
    // function otherwise needs JIT_HOT more calls for each further region).
    if (queued.length < 2 * BATCH) for (const p of r.rest) queued.push(base + (p >>> 1));
    entries.push(e);
    epochs.push(jit.epoch[slot]);
  }
  claimed.clear();
  if (fns.length === 0) return;
  const bytes = moduleBytes(fns, jm, undefined, { params: HOST_PARAMS, table: true });
  const imports = { m: { m: jm.memory, h: jit.hostTable } };
  const install = (inst: WebAssembly.Instance, ms: number): void => {
    const t1 = performance.now();
    let size = 0;
    for (const fn of fns) size += fn.code.length;
    if (jit.codeBytes + size > JIT_CODE_LIMIT) jit.evictAll();
    for (let k = 0; k < at.length; k++) {
      const slot = Math.floor(at[k] / SLOT_ENTRIES);
      if (jit.epoch[slot] !== epochs[k] || dc.meta[at[k]] & JIT_ENTRY) continue;
      const e = entries[k];
      jit.install(slot, e, LABELS.subarray(0, e.length), inst.exports[`f${k}`] as PageFn, fns[k].code.length);
    }
    ms += performance.now() - t1;
    jit.compiles += fns.length;
    jit.batches++;
    jit.totalMs += ms;
    if (ms > jit.longestMs) jit.longestMs = ms;
  };
  // A host that forbids compiling (a Content-Security-Policy without 'wasm-unsafe-eval'): stay on the
  // interpreter.
  const fail = (): void => {
    jit.disabled = true;
  };
  if (sync && !jit.asyncOnly) {
    try {
      install(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports), performance.now() - t0);
      return;
    } catch (e) {
      // Chromium's main thread refuses synchronous compiles over 4 KiB with a RangeError; anything
      // else (a CompileError from a Content-Security-Policy) means no compiling at all.
      if (!(e instanceof RangeError)) {
        fail();
        return;
      }
      jit.asyncOnly = true;
    }
  }
  const ms = performance.now() - t0;
  jit.inFlight++;
  WebAssembly.instantiate(bytes, imports).then(
    (r) => {
      jit.inFlight--;
      // The instantiation itself ran on this thread, after the background compile.
      install(r.instance, ms);
    },
    () => {
      jit.inFlight--;
      fail();
    },
  );
}
