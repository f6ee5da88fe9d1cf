/**
 * A short run of a synthetic program before the first guest instruction, so that V8 optimizes the run
 * loop (interp.ts) once, with type feedback for the paths a guest takes.
 *
 * Why: V8 optimizes the run loop speculatively from the paths it has seen run. Every path first taken
 * later (the first compiled region, the first jump out of one, the first MULHU or SRAW, paging turned on)
 * throws that code away ("insufficient type feedback") and the loop runs unoptimized until TurboFan has
 * compiled the whole of it again, 100–600 ms on a busy 2-core host. Linux's boot did that 14 times.
 * This program takes those paths in S-mode with Sv39 paging (and the JIT entering, leaving and chaining
 * regions), with a start in M-mode (bare accesses and jumps) and a trap handler there (a fetch fault
 * each round, an interrupt taken once); it runs for 80,000 instructions, once per thread.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { Hart } from './hart.js';
import { adoptSharedRam, allocateRam, ramLayoutOf } from './memory.js';

const BASE = 0x8000_0000;
const SIZE = 4 << 20;

// Instruction encoders (RV64GC), enough for this program.
const r = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const i = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const s = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23) >>> 0;
const b = (off: number, rs2: number, rs1: number, f3: number): number =>
  ((((off >> 12) & 1) << 31) |
    (((off >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((off >> 1) & 15) << 8) |
    (((off >> 11) & 1) << 7) |
    0x63) >>>
  0;
const jal = (off: number, rd: number): number =>
  ((((off >> 20) & 1) << 31) |
    (((off >> 1) & 0x3ff) << 21) |
    (((off >> 11) & 1) << 20) |
    (((off >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f) >>>
  0;
const u = (imm20: number, rd: number, op: number): number =>
  (((imm20 & 0xfffff) << 12) | (rd << 7) | op) >>> 0;
const csr = (n: number, rs1: number, f3: number, rd: number): number => i(n, rs1, f3, rd, 0x73);

// Registers.
const RA = 1;
const SP = 2;
const T0 = 5;
const T1 = 6;
const T2 = 7;
const S0 = 8;
const S1 = 9;
const S2 = 18;
const A0 = 10;
const A1 = 11;
const A2 = 12;

/** Emits 32-bit words (and 16-bit compressed ones) at increasing addresses. */
class Code {
  readonly h16: number[] = [];
  constructor(readonly at: number) {}
  get pc(): number {
    return this.at + 2 * this.h16.length;
  }
  w(...ws: number[]): this {
    for (const x of ws) this.h16.push(x & 0xffff, x >>> 16);
    return this;
  }
  c(x: number): this {
    this.h16.push(x);
    return this;
  }
  /** rd = the 32-bit address `a` (auipc + addi, pc-relative). */
  la(rd: number, a: number): this {
    const d = a - this.pc;
    const lo = (d << 20) >> 20;
    return this.w(u((d - lo) >> 12, rd, 0x17), i(lo, rd, 0, rd, 0x13));
  }
}

/** The ALU, multiply/divide, load/store and branch forms the decoder and the JIT know. */
function body(c: Code, data: number): void {
  c.la(S1, data);
  // OP-IMM: addi slti sltiu xori ori andi; shifts with amounts below and above 32; li, mv, nop, lui.
  for (let f3 = 0; f3 < 8; f3++) {
    if (f3 === 1) c.w(i(3, A0, 1, A1, 0x13), i(40, A0, 1, A1, 0x13));
    else if (f3 === 5)
      c.w(
        i(3, A0, 5, A1, 0x13),
        i(40, A0, 5, A1, 0x13),
        i(0x400 | 3, A0, 5, A1, 0x13),
        i(0x400 | 40, A0, 5, A1, 0x13),
      );
    else c.w(i(-7, A0, f3, A1, 0x13));
  }
  c.w(i(5, 0, 0, A2, 0x13), i(0, A1, 0, A2, 0x13), i(0, 0, 0, 0, 0x13), u(0x12345, T2, 0x37), u(1, T2, 0x17));
  // OP (with SUB/SRA) and M; OP-32 and M-32; OP-IMM-32.
  for (let f3 = 0; f3 < 8; f3++) {
    c.w(r(0, A1, A0, f3, A2, 0x33), r(1, A1, A0, f3, A2, 0x33));
    if (f3 === 0 || f3 === 5) c.w(r(0x20, A1, A0, f3, A2, 0x33));
    if (f3 === 0 || f3 === 1 || f3 === 5) c.w(r(0, A1, A0, f3, A2, 0x3b));
    if (f3 === 0 || f3 === 5) c.w(r(0x20, A1, A0, f3, A2, 0x3b));
    if (f3 === 0 || f3 >= 4) c.w(r(1, A1, A0, f3, A2, 0x3b));
  }
  c.w(i(9, A0, 0, A2, 0x1b), i(3, A0, 1, A2, 0x1b), i(3, A0, 5, A2, 0x1b), i(0x400 | 3, A0, 5, A2, 0x1b));
  // Stores then loads of every width; a load through a misaligned address (the slow path).
  for (let f3 = 0; f3 < 4; f3++) c.w(s(8 << f3, A0, S1, f3));
  for (const f3 of [0, 1, 2, 3, 4, 5, 6]) c.w(i(8, S1, f3, A2, 0x03));
  // AMO, LR/SC (doubleword and word).
  c.w(r(0x00 << 2, A0, S1, 3, A2, 0x2f), r(0x02 << 2, 0, S1, 3, A2, 0x2f), r(0x03 << 2, A0, S1, 3, A2, 0x2f));
  c.w(r(0x00 << 2, A0, S1, 2, A2, 0x2f), r(0x0c << 2, A0, S1, 2, A2, 0x2f));
  // FP: load, store, arithmetic (the run loop's), a CSR read.
  c.w(
    i(16, S1, 3, 1, 0x07),
    (s(24, 1, S1, 3) & ~0x7f) | 0x27,
    r(0x01, 1, 1, 7, 2, 0x53),
    csr(0x100, 0, 2, T0),
  );
  // Branches, each taken and not taken (a forward skip of one instruction).
  for (const f3 of [0, 1, 4, 5, 6, 7])
    c.w(b(8, A1, A0, f3), i(1, A0, 0, A0, 0x13), b(8, A0, A0, f3), i(1, A0, 0, A0, 0x13));
  // Compressed: c.addi, c.li, c.mv, c.add.
  c.c(0x0505).c(0x4585).c(0x862e).c(0x962e);
}

/** Build the program into RAM (`mem` at BASE); returns its entry. */
function program(mem: Uint8Array): number {
  const root = BASE + 0x10_0000;
  const data = BASE + 0x20_0000;
  const m = new Code(BASE);
  const sCode = BASE + 0x1000;
  // M-mode: mstatus.MPP = S, FS = Dirty; satp = Sv39 at root; mret to sCode.
  m.w(u(6, T0, 0x37), csr(0x300, T0, 2, 0)); // mstatus |= 0x6000 (FS = Dirty)
  m.w(u(1, T0, 0x37), i(-0x800, T0, 0, T0, 0x13), csr(0x300, T0, 2, 0)); // mstatus |= 0x800 (MPP = S)
  m.la(T0, sCode).w(csr(0x341, T0, 1, 0));
  // Traps go to M-mode (nothing is delegated): an exception (the fetch fault in the loop) returns to ra,
  // an interrupt (the supervisor timer's, enabled here) to where it was taken, with it disabled.
  const trap = BASE + 0x800;
  m.la(T0, trap).w(csr(0x305, T0, 1, 0), i(0x20, 0, 0, T0, 0x13), csr(0x304, T0, 2, 0));
  const t = new Code(trap);
  t.w(csr(0x342, 0, 2, T0), b(12, 0, T0, 4), csr(0x341, RA, 1, 0), 0x3020_0073);
  t.w(i(0x20, 0, 0, T0, 0x13), csr(0x304, T0, 3, 0), 0x3020_0073);
  // Eight calls of fnM, on a page of its own, in M-mode: bare loads, stores and jumps.
  const fnM = BASE + 0x6800;
  m.la(S1, data).w(i(8, 0, 0, S2, 0x13));
  const mLoop = m.pc;
  m.w(jal(fnM - m.pc, RA), i(-1, S2, 0, S2, 0x13));
  m.w(b(mLoop - m.pc, 0, S2, 1), i(0, 0, 0, S2, 0x13));
  const fm = new Code(fnM);
  fm.w(s(8, A0, S1, 3), i(8, S1, 3, A2, 0x03), i(8, S1, 2, A2, 0x03), i(8, S1, 4, A2, 0x03));
  fm.w(s(9, A0, S1, 0), s(10, A0, S1, 1), s(12, A0, S1, 2), i(1, A0, 0, A0, 0x13));
  fm.w(b(8, A0, A0, 0), i(1, A0, 0, A0, 0x13), i(0, RA, 0, 0, 0x67));
  m.w(i(8, 0, 0, T0, 0x13), i(60, T0, 1, T0, 0x13)); // t0 = 8 << 60
  m.w(u((root >>> 12) >>> 12, T1, 0x37), i((root >>> 12) & 0xfff, T1, 6, T1, 0x13)); // t1 = root ppn
  m.w(r(0, T1, T0, 6, T0, 0x33), csr(0x180, T0, 1, 0), 0x3020_0073); // satp; mret
  // S-mode, page A: the loop, calling page B directly and page C's straight line indirectly.
  const a = new Code(sCode);
  const fnB = BASE + 0x2000;
  // Page C's straight line starts 2 bytes off so that one instruction straddles the pages.
  const fnC = BASE + 0x3ff2;
  const fnD = BASE + 0x4ff8;
  const fnE = BASE + 0x5ff8;
  a.la(SP, data + 0x800);
  const loop = a.pc;
  body(a, data);
  a.w(jal(fnB - a.pc, RA));
  a.la(S0, fnC).w(i(0, S0, 0, RA, 0x67));
  // An indirect call and return within the page.
  const fnL = sCode + 0xc00;
  a.la(S0, fnL).w(i(0, S0, 0, RA, 0x67));
  // A conditional branch to the next page; a straight line that runs off its page.
  a.la(S0, fnD).w(i(0, S0, 0, RA, 0x67));
  a.la(S0, fnE).w(i(0, S0, 0, RA, 0x67));
  // A store while a reservation is held; a store into a page of code (its own bytes back).
  a.w(r(0x02 << 2, 0, S1, 3, A2, 0x2f), s(32, A0, S1, 3), r(0x03 << 2, A0, S1, 3, A2, 0x2f));
  // A call into an unmapped page: a fetch fault, back at the next instruction (the trap handler).
  a.la(S0, 0x4000_0000).w(i(0, S0, 0, RA, 0x67));
  // A store into data that shares a page with code (the code cache's look at the page).
  a.la(T2, sCode + 0xf00).w(s(0, A0, T2, 3));
  // The first time round and every 256th, a store into code (its own bytes back: lh/sh, for fnC is
  // 2-byte aligned), after one that leaves the code alone so that it finds the page in the TLB.
  a.w(i(1, S2, 0, S2, 0x13), i(255, S2, 7, T1, 0x13), i(-1, T1, 0, T1, 0x13), b(24, 0, T1, 1));
  a.la(T2, fnC).w(s(-0x100, A0, T2, 1), i(0, T2, 1, T0, 0x03), s(0, T0, T2, 1));
  a.w(jal(loop - a.pc, 0));
  const d = new Code(fnD);
  d.w(b(8, 0, 0, 0));
  const d2 = new Code(fnD + 8);
  d2.w(i(0, RA, 0, 0, 0x67));
  const e = new Code(fnE);
  e.w(i(1, A0, 0, A0, 0x13), i(1, A0, 0, A0, 0x13), i(0, RA, 0, 0, 0x67));
  const l = new Code(fnL);
  l.w(i(1, A0, 0, A0, 0x13), i(0, RA, 0, 0, 0x67));
  const bb = new Code(fnB);
  body(bb, data + 64);
  bb.w(i(0, RA, 0, 0, 0x67));
  const cc = new Code(fnC);
  for (let k = 0; k < 8; k++) cc.w(i(1, A0, 0, A0, 0x13)); // runs off page C into the next page
  cc.w(i(0, RA, 0, 0, 0x67));
  for (const x of [m, t, fm, a, l, bb, cc, d, d2, e])
    new Uint16Array(mem.buffer, x.at - BASE, x.h16.length).set(x.h16);
  // Sv39 root: VPN[2] = 2 → the 1 GiB page at 0x8000_0000, RWX, accessed and dirty.
  new DataView(mem.buffer).setBigUint64(root - BASE + 2 * 8, (BigInt(BASE >>> 12) << 10n) | 0xcfn, true);
  return BASE;
}

const NO_BUS: PhysicalBus = { read: () => -1, write: () => false };
const done = new Set<boolean>();

/**
 * Run the warm-up program once per thread and kind of RAM (`shared`: the hart's RAM is shared with
 * other threads). Costs a few milliseconds; the run loop's optimized code is then kept for the guest.
 */
export function warmUp(shared: boolean): void {
  if (done.has(shared)) return;
  done.add(shared);
  warmUpHart(shared);
}

/** Run the warm-up program on a hart of its own (exported for its test); returns that hart. */
export function warmUpHart(shared: boolean): Hart {
  let buffer = allocateRam(SIZE, 1, { shared });
  if (shared) {
    // As a hart's worker does: adopt the memory (its JIT view).
    const { memory, layout } = ramLayoutOf(buffer)!;
    buffer = adoptSharedRam(memory, layout, 0);
  }
  const hart = new Hart({
    hartId: 0,
    ram: { base: BASE, size: SIZE, buffer },
    bus: NO_BUS,
    time: () => 0,
    engine: 'jit',
    jitThreshold: 4,
    warmUp: false,
  });
  hart.reset(program(new Uint8Array(buffer, 0, SIZE)));
  for (let k = 0; k < 40; k++) {
    // An interrupt pending: taken once (the trap handler disables it), then pending but not enabled.
    if (k === 10) hart.setPending(5, true);
    if (k === 11) hart.setPending(5, false);
    // Every other slice, another instance of the dispatcher: the loop's call of it has then seen more
    // than one target whenever V8 optimizes the loop, and calls any. Optimized for one, the loop was
    // thrown away again at the guest's first compiled region (its own dispatcher), and the guest
    // started on the unoptimized loop while V8 compiled it again on another thread (~70 ms).
    if (k & 1) hart.dcache.jit?.renewDispatcher();
    // Half the slices without the interpreter in wasm, so that the run loop's own paths run too.
    hart.jitInterp = (k & 2) !== 0;
    hart.run(2000);
  }
  return hart;
}
