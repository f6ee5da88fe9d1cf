/**
 * The interpreter in wasm: runs decoded entries (decode.ts) that have no compiled region yet, in the
 * dispatcher's module, so that lukewarm code — the long tail that runs too few times to be worth a
 * compile, and everything before its region compiles — does not pay the JavaScript run loop's cost per
 * instruction (~25 ns on cold kernel code: V8 spills most of the loop's live values and every 64-bit
 * value is an int32 pair). Here registers are i64 loads and stores in the hart's area and an instruction
 * is a br_table jump; a position with a compiled region is run through the dispatcher (a call inside the
 * module), and page changes translate through the instruction TLB without going back to JavaScript.
 *
 * It executes only what cannot trap and needs no JavaScript: integer ALU and M (but MULH* and the
 * divisions), branches and jumps, loads and stores that hit RAM through the TLB (or bare), LR, SC and
 * the AMOs but MIN/MAX (as compiled code runs them), FENCE on shared RAM (atomic.fence), and CSR
 * instructions through the same host call as compiled code. Everything else — an undecoded position, a
 * TLB miss, MMIO, a misaligned access, a store into decoded code or near the reservation, FENCE.I, the
 * system instructions — hands the instruction back to the run loop before executing it, with the state
 * before it architectural, exactly as a compiled region does (jit.ts). The count of instructions and the
 * budget are kept as the run loop keeps them, and arrivals at a position are counted as it counts them,
 * so the JIT compiles the same regions at the same moments; the arrival that reaches the threshold is
 * handed back for the run loop to count (and compile).
 *
 * Result (as the dispatcher's): the page offset of the instruction the run loop executes next (same
 * page); -1 with the pc in jitIo when it moved to another page (or the pc must be established again);
 * -2, the same, the first instruction executed by the run loop; RESTART from a host call.
 */
import { JIT_ENTRY } from './jit-cache.js';
import {
  ALIGN,
  AMO_OPS,
  emitDataOffset,
  emitFetchOffset,
  emitSc,
  LOADS,
  REENTER,
  STORES,
} from './jit-dispatch.js';
import { Op } from './decode.js';
import { RESTART } from './jit-host.js';
import {
  HS_INTERP_ENTRIES,
  HS_IO,
  HS_KICK,
  HS_PC,
  HS_RESV,
  HS_RESV_VAL,
  HS_X,
  SLOT_ENTRIES,
  type JitMemory,
} from './memory.js';
import { A as Atomic, Bytes, T, W, type FnSpec } from './wasm.js';

/**
 * The interpreter's function (the dispatcher module's f2): runs from page offset `off` of decode-cache
 * slot `slot` (virtual page pageLo, pcHi); the other arguments as the dispatcher's, with `hot` the
 * compile threshold (Hart.jitHot).
 */
export type InterpFn = (
  hs: number,
  slot: number,
  off: number,
  n: number,
  budget: number,
  pageLo: number,
  pcHi: number,
  mode: number,
  dR: number,
  dW: number,
  iSet: number,
  hot: number,
) => number;

/** Per Op: 1 when the interpreter in wasm executes it (Generic: jit-dispatch.ts genericInWasm). */
export const INTERP_OPS = new Uint8Array(256);
for (let op = Op.Nop; op <= Op.Remuw; op++) INTERP_OPS[op] = 1;
for (const op of [Op.Mulh, Op.Mulhsu, Op.Mulhu, Op.Div, Op.Divu, Op.Rem, Op.Remu]) INTERP_OPS[op] = 0;
for (const op of [Op.Divw, Op.Divuw, Op.Remw, Op.Remuw]) INTERP_OPS[op] = 0;
INTERP_OPS[Op.NextPage] = 1;
INTERP_OPS[Op.Generic] = 1;

// Parameters.
const HS = 0;
const SLOT = 1;
const OFF = 2;
const N = 3;
const BUDGET = 4;
const PAGELO = 5;
const PCHI = 6;
const MODE = 7;
const DR = 8;
const DW = 9;
const ISET = 10;
const HOT = 11;
const PARAMS = 12;
// i32 locals: the entry's byte index (4 × decode index), its meta word, scratch, a RAM offset, a TLB
// index, a slot, moved to another page, a dispatcher result, the offset whose region the dispatcher
// just handed back (executed here, not entered again; -1: none).
const I = 12;
const M = 13;
const TT = 14;
const O = 15;
const J = 16;
const S = 17;
const MOVED = 18;
const R = 19;
const SKIP = 20;
// i64 locals: an address, a scratch value.
const A = 21;
const V = 22;

/** Structured control with named labels: br depths computed from the open constructs. */
class Nest {
  private readonly open: number[] = [];
  private next = 0;
  constructor(readonly c: Bytes) {}
  begin(kind: W.Block | W.Loop | W.If): number {
    this.c.op(kind).byte(T.Void);
    const id = this.next++;
    this.open.push(id);
    return id;
  }
  end(): void {
    this.c.op(W.End);
    this.open.pop();
  }
  depth(label: number): number {
    const k = this.open.lastIndexOf(label);
    if (k < 0) throw new Error('jit-interp: branch to a closed label');
    return this.open.length - 1 - k;
  }
  br(label: number): void {
    this.c.op(W.Br).u(this.depth(label));
  }
}

/** The interpreter's function for a JIT memory whose RAM starts at physical `ramBase`. */
export function interpFn(jm: JitMemory, ramBase: number): FnSpec {
  const c = new Bytes(16384);
  const nest = new Nest(c);

  const pagePc = (): void => {
    c.get(PCHI).op(W.I64ExtendI32S).i64(32).op(W.I64Shl).get(PAGELO).op(W.I64ExtendI32U).op(W.I64Or);
  };
  const storeN = (): void => {
    c.get(HS).get(N).mem(W.I32Store, 2, HS_IO);
  };
  /** The run loop executes the instruction at OFF. */
  const exitPlain = (): void => {
    storeN();
    c.get(MOVED);
    nest.begin(W.If);
    c.get(HS);
    pagePc();
    c.get(OFF).op(W.I64ExtendI32U).op(W.I64Add).mem(W.I64Store, 3, HS_PC);
    c.i32(-2).op(W.Return);
    nest.end();
    c.get(OFF).op(W.Return);
  };
  /** The run loop establishes the pc (in the hart already) and counts the arrival there. */
  const exitPc = (): void => {
    storeN();
    c.i32(-1).op(W.Return);
  };
  const exitArrive = (): void => {
    c.get(HS);
    pagePc();
    c.get(OFF).op(W.I64ExtendI32U).op(W.I64Add).mem(W.I64Store, 3, HS_PC);
    exitPc();
  };
  /** Count an arrival at OFF (a jump's target, a new page), as the run loop does. */
  const arrive = (): void => {
    c.get(SLOT).i32(SLOT_ENTRIES).op(W.I32Mul).get(OFF).i32(1).op(W.I32ShrU).op(W.I32Add);
    c.i32(1).op(W.I32Shl).tee(TT).mem(W.I32Load16U, 1, jm.heat).i32(1).op(W.I32Add).tee(S);
    c.get(HOT).op(W.I32Eq);
    // Kicked (harts on threads, memory.ts HS_KICK): back to the run loop, which ends the slice. Looked at
    // here, where loops pass, not at every instruction; a plain load, as a missed kick only waits for the
    // budget.
    if (jm.shared) c.get(HS).mem(W.I32Load, 2, HS_KICK).op(W.I32Or);
    nest.begin(W.If);
    exitArrive();
    nest.end();
    c.get(TT).get(S).mem(W.I32Store16, 1, jm.heat);
  };
  const reg = (shift: number): void => {
    c.get(HS).get(M).i32(shift).op(W.I32ShrU).i32(248).op(W.I32And).op(W.I32Add).mem(W.I64Load, 3, HS_X);
  };
  const x1 = (): void => reg(12);
  const x2 = (): void => reg(18);
  /** Push the address of rd's cell (then the value, then an i64 store at HS_X). */
  const rdAt = (): void => {
    c.get(HS).get(M).i32(6).op(W.I32ShrU).i32(248).op(W.I32And).op(W.I32Add);
  };
  const setRd = (): void => {
    c.mem(W.I64Store, 3, HS_X);
  };
  const imm32 = (): void => {
    c.get(I).mem(W.I32Load, 2, jm.imm);
  };
  const imm64 = (): void => {
    imm32();
    c.op(W.I64ExtendI32S);
  };
  const len = (): void => {
    c.get(M).i32(26).op(W.I32ShrU);
  };
  const count = (): void => {
    c.get(N).i32(1).op(W.I32Add).set(N);
  };

  c.i32(-1).set(SKIP);
  const top = nest.begin(W.Loop);
  /** Done: the next instruction follows. */
  const next = (): void => {
    c.get(OFF);
    len();
    c.op(W.I32Add).set(OFF);
    count();
    nest.br(top);
  };
  /** Go to the virtual address in A (another page, or this one): through the instruction TLB. */
  const far = (): void => {
    c.get(HS).get(A).mem(W.I64Store, 3, HS_PC);
    emitFetchOffset(c, ISET, A, J, HS, ramBase);
    c.tee(V).i64(jm.ramSize).op(W.I64GeU);
    nest.begin(W.If);
    exitPc();
    nest.end();
    c.get(V).op(W.I32WrapI64).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl).mem(W.I32Load, 2, jm.pageSlot);
    c.tee(S).i32(0).op(W.I32LtS);
    nest.begin(W.If);
    exitPc();
    nest.end();
    c.get(S).set(SLOT);
    c.get(A).op(W.I32WrapI64).i32(-4096).op(W.I32And).set(PAGELO);
    c.get(A).i64(32).op(W.I64ShrU).op(W.I32WrapI64).set(PCHI);
    c.get(A).op(W.I32WrapI64).i32(4095).op(W.I32And).set(OFF);
    c.i32(1).set(MOVED);
    arrive();
    nest.br(top);
  };
  /** Jump to page offset TT (i32, may be outside the page) of this page; the instruction is counted. */
  const jumpRel = (): void => {
    c.get(TT).i32(4096).op(W.I32LtU);
    nest.begin(W.If);
    c.get(TT).set(OFF);
    arrive();
    nest.br(top);
    nest.end();
    pagePc();
    c.get(TT).op(W.I64ExtendI32S).op(W.I64Add).set(A);
    far();
  };
  /**
   * O = the RAM offset of the data access at A of `size` bytes through TLB set `set`, or hand the
   * instruction back (not RAM, misaligned, a miss): jit.ts's translate.
   */
  const translate = (size: number, set: number): void => {
    emitDataOffset(c, { hs: HS, mode: MODE, set, j: J, o: O, addr: A, t: V }, ramBase, jm.ramSize, size);
    nest.begin(W.If);
    exitPlain();
    nest.end();
  };
  /** A store into decoded code is the run loop's (it drops the chunk). */
  const codeCheck = (): void => {
    c.get(O).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl).mem(W.I32Load, 2, jm.pageSlot).tee(S);
    c.i32(0).op(W.I32GeS);
    nest.begin(W.If);
    c.get(S).i32(2).op(W.I32Shl).mem(W.I32Load, 2, jm.codeMask);
    c.i32(1).get(O).i32(7).op(W.I32ShrU).op(W.I32Shl).op(W.I32And);
    nest.begin(W.If);
    exitPlain();
    nest.end();
    nest.end();
  };
  /** A store within 8 bytes of the reservation is the run loop's (it drops the reservation). */
  const resvCheck = (): void => {
    c.get(O).get(HS).mem(W.I32Load, 2, HS_RESV).op(W.I32Sub).i32(7).op(W.I32Add).i32(15).op(W.I32LtU);
    nest.begin(W.If);
    exitPlain();
    nest.end();
  };
  const address = (): void => {
    x1();
    imm64();
    c.op(W.I64Add).set(A);
  };

  // The budget, then the entry.
  c.get(N).get(BUDGET).op(W.I32GeS);
  nest.begin(W.If);
  exitPlain();
  nest.end();
  c.get(SLOT).i32(SLOT_ENTRIES).op(W.I32Mul).get(OFF).i32(1).op(W.I32ShrU).op(W.I32Add);
  c.i32(2).op(W.I32Shl).tee(I).mem(W.I32Load, 2, jm.meta).tee(M);
  // A compiled region starts here: run it (and what it chains to) through the dispatcher (function 1).
  c.i32(JIT_ENTRY).op(W.I32And).i32(0).op(W.I32Ne).get(OFF).get(SKIP).op(W.I32Ne).op(W.I32And);
  nest.begin(W.If);
  c.get(HS)
    .get(HS)
    .mem(W.I32Load, 2, HS_INTERP_ENTRIES)
    .i32(1)
    .op(W.I32Add)
    .mem(W.I32Store, 2, HS_INTERP_ENTRIES);
  c.get(HS).get(I).mem(W.I32Load, 2, jm.regionIdx).get(OFF);
  for (const p of [N, BUDGET, PAGELO, PCHI, MODE, DR, DW, ISET, SLOT]) c.get(p);
  c.op(W.Call).u(1).set(R);
  c.get(HS).mem(W.I32Load, 2, HS_IO).set(N);
  // -1, -2 (it moved to another page), RESTART: the run loop's.
  c.get(R).i32(0).op(W.I32LtS);
  nest.begin(W.If);
  c.get(R).op(W.Return);
  nest.end();
  c.get(R).i32(4095).op(W.I32And).set(OFF);
  c.get(R).i32(REENTER).op(W.I32And);
  nest.begin(W.If);
  c.i32(-1).set(SKIP);
  arrive();
  nest.br(top);
  nest.end();
  // The instruction at R is not a region's: execute it here (or hand it back).
  c.get(OFF).set(SKIP);
  nest.br(top);
  nest.end();
  c.i32(-1).set(SKIP);

  // One block per case; the br_table picks the case by the entry's handler index.
  const cases: (() => void)[] = [];
  const caseOf = new Int32Array(256); // 0: hand back
  const add = (ops: Op[], body: () => void): void => {
    cases.push(body);
    for (const op of ops) caseOf[op] = cases.length;
  };
  add([Op.NextPage], () => {
    pagePc();
    c.i64(4096).op(W.I64Add).set(A);
    far();
  });
  add([Op.Nop], next);
  add([Op.Lui, Op.Li], () => {
    rdAt();
    imm64();
    setRd();
    next();
  });
  add([Op.Auipc], () => {
    rdAt();
    pagePc();
    c.get(OFF).op(W.I64ExtendI32U).op(W.I64Add);
    imm64();
    c.op(W.I64Add);
    setRd();
    next();
  });
  const link = (): void => {
    rdAt();
    pagePc();
    c.get(OFF);
    len();
    c.op(W.I32Add).op(W.I64ExtendI32U).op(W.I64Add);
    setRd();
  };
  add([Op.Jal], () => {
    link();
    count();
    c.get(OFF);
    imm32();
    c.op(W.I32Add).set(TT);
    jumpRel();
  });
  add([Op.J], () => {
    count();
    c.get(OFF);
    imm32();
    c.op(W.I32Add).set(TT);
    jumpRel();
  });
  const indirect = (withLink: boolean): void => {
    x1();
    imm64();
    c.op(W.I64Add).i64(-2).op(W.I64And).set(A);
    if (withLink) link();
    count();
    // In this page: the offset; elsewhere, through the TLB.
    c.get(A).i64(-4096).op(W.I64And);
    pagePc();
    c.op(W.I64Eq);
    nest.begin(W.If);
    c.get(A).op(W.I32WrapI64).i32(4095).op(W.I32And).set(OFF);
    arrive();
    nest.br(top);
    nest.end();
    far();
  };
  add([Op.Jalr], () => indirect(true));
  add([Op.Jr], () => indirect(false));
  const BRANCH: [Op, W][] = [
    [Op.Beq, W.I64Eq],
    [Op.Bne, W.I64Ne],
    [Op.Blt, W.I64LtS],
    [Op.Bge, W.I64GeS],
    [Op.Bltu, W.I64LtU],
    [Op.Bgeu, W.I64GeU],
  ];
  for (const [op, cmp] of BRANCH)
    add([op], () => {
      x1();
      x2();
      c.op(cmp);
      nest.begin(W.If);
      count();
      c.get(OFF);
      imm32();
      c.op(W.I32Add).set(TT);
      jumpRel();
      nest.end();
      next();
    });
  for (let op = Op.Lb; op <= Op.Lwu; op++) {
    const [ld, size] = LOADS[op];
    add([op], () => {
      address();
      translate(size, DR);
      rdAt();
      c.get(O).mem(ld, ALIGN[size], 0);
      setRd();
      next();
    });
  }
  for (let op = Op.Sb; op <= Op.Sd; op++) {
    const [st, size] = STORES[op];
    add([op], () => {
      address();
      translate(size, DW);
      codeCheck();
      resvCheck();
      c.get(O);
      x2();
      c.mem(st, ALIGN[size], 0);
      next();
    });
  }
  add([Op.Mv], () => {
    rdAt();
    x1();
    setRd();
    next();
  });
  const IMM_OPS: [Op, () => void][] = [
    [Op.Addi, () => c.op(W.I64Add)],
    [Op.Slti, () => c.op(W.I64LtS).op(W.I64ExtendI32U)],
    [Op.Sltiu, () => c.op(W.I64LtU).op(W.I64ExtendI32U)],
    [Op.Xori, () => c.op(W.I64Xor)],
    [Op.Ori, () => c.op(W.I64Or)],
    [Op.Andi, () => c.op(W.I64And)],
    [Op.SlliLo, () => c.op(W.I64Shl)],
    [Op.SlliHi, () => c.op(W.I64Shl)],
    [Op.SrliLo, () => c.op(W.I64ShrU)],
    [Op.SrliHi, () => c.op(W.I64ShrU)],
    [Op.SraiLo, () => c.op(W.I64ShrS)],
    [Op.SraiHi, () => c.op(W.I64ShrS)],
  ];
  for (const [op, f] of IMM_OPS)
    add([op], () => {
      rdAt();
      x1();
      imm64();
      f();
      setRd();
      next();
    });
  const REG_OPS: [Op, () => void][] = [
    [Op.Add, () => c.op(W.I64Add)],
    [Op.Sub, () => c.op(W.I64Sub)],
    [Op.Sll, () => c.op(W.I64Shl)],
    [Op.Srl, () => c.op(W.I64ShrU)],
    [Op.Sra, () => c.op(W.I64ShrS)],
    [Op.Slt, () => c.op(W.I64LtS).op(W.I64ExtendI32U)],
    [Op.Sltu, () => c.op(W.I64LtU).op(W.I64ExtendI32U)],
    [Op.Xor, () => c.op(W.I64Xor)],
    [Op.Or, () => c.op(W.I64Or)],
    [Op.And, () => c.op(W.I64And)],
    [Op.Mul, () => c.op(W.I64Mul)],
  ];
  for (const [op, f] of REG_OPS)
    add([op], () => {
      rdAt();
      x1();
      x2();
      f();
      setRd();
      next();
    });
  const W_IMM: [Op, W][] = [
    [Op.Addiw, W.I32Add],
    [Op.Slliw, W.I32Shl],
    [Op.Srliw, W.I32ShrU],
    [Op.Sraiw, W.I32ShrS],
  ];
  for (const [op, w] of W_IMM)
    add([op], () => {
      rdAt();
      x1();
      c.op(W.I32WrapI64);
      imm32();
      c.op(w).op(W.I64ExtendI32S);
      setRd();
      next();
    });
  const W_REG: [Op, W][] = [
    [Op.Addw, W.I32Add],
    [Op.Subw, W.I32Sub],
    [Op.Sllw, W.I32Shl],
    [Op.Srlw, W.I32ShrU],
    [Op.Sraw, W.I32ShrS],
    [Op.Mulw, W.I32Mul],
  ];
  for (const [op, w] of W_REG)
    add([op], () => {
      rdAt();
      x1();
      c.op(W.I32WrapI64);
      x2();
      c.op(W.I32WrapI64);
      c.op(w).op(W.I64ExtendI32S);
      setRd();
      next();
    });
  /** Push the address of register cell r, where r's field is at bit `at` of the instruction (in TT). */
  const cellOf = (at: number): void => {
    c.get(HS)
      .get(TT)
      .i32(at - 3)
      .op(W.I32ShrU)
      .i32(248)
      .op(W.I32And)
      .op(W.I32Add);
  };
  /** Push rs2's value (its field at bit 20 of the instruction in TT). */
  const x2Of = (): void => {
    cellOf(20);
    c.mem(W.I64Load, 3, HS_X);
  };
  /** rd = the i64 on the stack (then x0's cell zeroed again: rd may be x0). */
  const setRdOf = (): void => {
    c.set(V);
    cellOf(7);
    c.get(V).mem(W.I64Store, 3, HS_X);
    c.get(HS).i64(0).mem(W.I64Store, 3, HS_X);
  };
  /**
   * LR, SC and the AMOs but MIN/MAX (jit-host.ts isAtomicInWasm), as compiled code runs them (jit.ts
   * generic): the instruction is in TT; anything else falls through. Atomic accesses: sequentially
   * consistent on shared RAM (.aq/.rl hold), plain on an unshared memory.
   */
  const atomics = (): void => {
    c.get(TT).i32(0x7f).op(W.I32And).i32(0x2f).op(W.I32Eq);
    nest.begin(W.If);
    for (const size of [4, 8] as const) {
      const al = size === 4 ? 2 : 3;
      const wide = size === 8 ? 1 : 0;
      c.get(TT).i32(12).op(W.I32ShrU).i32(7).op(W.I32And).i32(al).op(W.I32Eq);
      nest.begin(W.If);
      cellOf(15);
      c.mem(W.I64Load, 3, HS_X).set(A);
      // LR (rs2 must be 0): the reservation is the RAM offset and the value loaded.
      c.get(TT).i32(0xf9f00000).op(W.I32And).i32(0x10000000).op(W.I32Eq);
      nest.begin(W.If);
      translate(size, DR);
      c.get(O).atomic(Atomic.I32Load + wide, al, 0);
      if (size === 4) c.op(W.I64ExtendI32S);
      c.set(V);
      c.get(HS).get(O).mem(W.I32Store, 2, HS_RESV);
      c.get(HS).get(V).mem(W.I64Store, 3, HS_RESV_VAL);
      c.get(V);
      setRdOf();
      next();
      nest.end();
      // SC: succeeds when the reservation is this address (on shared RAM, also when the word still
      // holds what LR loaded: a compare-exchange); drops it always.
      c.get(TT).i32(27).op(W.I32ShrU).i32(3).op(W.I32Eq);
      nest.begin(W.If);
      translate(size, DW);
      codeCheck();
      emitSc(c, { hs: HS, o: O, s: S }, jm.shared, size, x2Of);
      c.op(W.I64ExtendI32U);
      setRdOf();
      next();
      nest.end();
      // The read-modify-writes.
      for (const [f5, op] of Object.entries(AMO_OPS)) {
        c.get(TT).i32(27).op(W.I32ShrU).i32(Number(f5)).op(W.I32Eq);
        nest.begin(W.If);
        translate(size, DW);
        codeCheck();
        resvCheck();
        c.get(O);
        x2Of();
        if (size === 4) c.op(W.I32WrapI64);
        c.atomic(op! + wide, al, 0);
        if (size === 4) c.op(W.I64ExtendI32S);
        setRdOf();
        next();
        nest.end();
      }
      nest.end();
    }
    nest.end();
  };

  // A FENCE on shared RAM (below), or a CSR instruction: jit-host.ts's hostCall (function 0), with the
  // count through it. SYSTEM with funct3 0 (ECALL, xRET, WFI, SFENCE.VMA) or 4 (reserved: illegal) and
  // every other Generic entry are handed back (jit-host.ts isHostCall: funct3's low two bits nonzero).
  add([Op.Generic], () => {
    imm32();
    c.set(TT);
    atomics();
    // A FENCE (a Generic entry on shared RAM only: jit-host.ts isFence): wasm's full barrier.
    c.get(TT).i32(0x707f).op(W.I32And).i32(0x0f).op(W.I32Eq);
    nest.begin(W.If);
    c.atomicFence();
    next();
    nest.end();
    c.get(TT).i32(0x7f).op(W.I32And).i32(0x73).op(W.I32Ne);
    c.get(TT).i32(12).op(W.I32ShrU).i32(3).op(W.I32And).op(W.I32Eqz).op(W.I32Or);
    nest.begin(W.If);
    exitPlain();
    nest.end();
    c.get(TT).get(PAGELO).get(PCHI).get(OFF).get(N).i32(1).op(W.I32Add);
    c.op(W.Call).u(0);
    nest.begin(W.If);
    c.i32(RESTART).op(W.Return);
    nest.end();
    // The run loop counts an arrival after every instruction it hands to execute.ts: so does this, so
    // that code after a CSR instruction (a user copy between SUM changes) gets a region.
    c.get(OFF);
    len();
    c.op(W.I32Add).set(OFF);
    count();
    arrive();
    nest.br(top);
  });

  const K = cases.length;
  for (let k = 0; k <= K; k++) nest.begin(W.Block);
  c.get(M).i32(0xff).op(W.I32And).op(W.BrTable).u(256);
  for (let op = 0; op < 256; op++) c.u(caseOf[op]);
  c.u(0);
  nest.end(); // case 0: hand back
  exitPlain();
  for (let k = 0; k < K; k++) {
    nest.end();
    cases[k]();
  }
  nest.end(); // the loop
  c.op(W.Unreachable);
  return {
    params: PARAMS,
    locals: [
      [9, T.I32],
      [2, T.I64],
    ],
    code: c,
  };
}
