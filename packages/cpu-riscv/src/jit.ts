/**
 * The JIT: compiles the hot code of a physical RAM page into one JavaScript function, from the entries
 * of the decoded-instruction cache (decode.ts), so that V8 compiles guest code to machine code.
 *
 * Shape of a page function: `for (;;) switch (LABEL[off >>> 1]) { case 0: … case 1: … default: return off }`.
 * A label is a position the run loop (interp.ts) arrived at by a jump or from another page often enough
 * (JIT_HOT times), a direct in-page branch target of compiled code, or the position after an instruction
 * the function leaves to the interpreter. From each label the code runs straight on until the next label
 * (where it falls into that case), an unconditional jump, or something it does not compile. In-page
 * branches and jumps go from case to case without leaving the function (block chaining through the
 * switch's jump table); other pages, faults, TLB misses, MMIO and every instruction without a handler of
 * its own (CSRs, AMOs, F/D, system) go back to the run loop, which executes them exactly as without the
 * JIT and re-enters at the next label.
 *
 * Exactness: every register write is stored to hart.x at once (locals only forward values within a run
 * of straight-line code), so the state before any instruction the function hands back is architectural.
 * Every label checks the remaining budget against the longest straight-line run from it, so a run never
 * executes more instructions than asked: instret and the budget stay exact and equal to the interpreter's.
 * Interrupts are taken by the run loop between runs and at page changes, as without the JIT: the latency
 * bound is one run's budget (the machine's slice, 20,000 instructions).
 *
 * Coherence: a page's function depends only on the bytes of that physical page and on nothing about
 * translation (virtual page, privilege and data TLB set are arguments), so the decoded-instruction
 * cache's rules cover it: a store into a decoded chunk — the function's own stores check it inline and
 * hand the store to the run loop — FENCE.I, reset and slot reuse drop the page's function
 * (DecodeCache.dropPageFn).
 */
import { div32, div64, mul64, mulh64, mulhsu64, mulhu64, out } from './alu64.js';
import { JIT_ENTRY, jitIo, SLOT_ENTRIES, type DecodeCache, type PageFn } from './decode-cache.js';
import { Op } from './decode.js';
import { TLB_SIZE } from './constants.js';

/** Arrivals at a position (by a jump or from another page) before its page is compiled with it. */
export const JIT_HOT = 24;
/** Instructions in one straight-line run between budget checks. */
const MAX_RUN = 64;
/**
 * Instructions compiled into one region at most. Small functions matter more than long ones: V8 tiers a
 * function up to optimised code only after running its bytecode a number of times that grows with its
 * size, and never beyond 60 KB of bytecode; a page-sized function stayed in V8's interpreter and ran
 * slower than our own (measured: 15 MIPS against 79 on bench/cpu.ts).
 */
const MAX_INSTS = 96;

/** What the emitter needs to know about the hart the code will run on (shared by the harts on a RAM). */
export interface JitTarget {
  readonly dcache: DecodeCache;
  readonly ramBase: number;
  readonly ramSize: number;
  readonly mem8: Uint8Array;
  readonly mem16: Uint16Array;
  readonly mem32: Int32Array;
}

const isCompiled = (m: number): boolean => m !== 0 && (m & 0xff) > Op.Cross;
const mLen = (m: number): number => m >>> 26;

/** An unconditional transfer: a straight-line run ends after it. */
const endsRun = (op: number): boolean => op === Op.Jal || op === Op.J || op === Op.Jalr || op === Op.Jr;

/** The in-page target of a direct branch or jump at `p`, or -1. */
function directTarget(op: number, p: number, im: number): number {
  if (op !== Op.Jal && op !== Op.J && (op < Op.Beq || op > Op.Bgeu)) return -1;
  const t = p + im;
  return t >= 0 && t < 4096 ? t : -1;
}

/**
 * Choose the labels of the region entered at page offset `entry`: the entry, then (breadth first) the
 * in-page targets of its direct branches and of theirs, within MAX_INSTS instructions.
 */
function chooseLabels(dc: DecodeCache, base: number, entry: number): number[] {
  const meta = dc.meta;
  const imm = dc.imm;
  const seen = new Uint8Array(2048);
  const work = [entry];
  seen[entry >>> 1] = 1;
  const labels: number[] = [];
  let insts = 0;
  const add = (p: number): void => {
    if (p >= 0 && p < 4096 && !seen[p >>> 1] && isCompiled(meta[base + (p >>> 1)])) {
      seen[p >>> 1] = 1;
      work.push(p);
    }
  };
  for (let w = 0; w < work.length && insts < MAX_INSTS; w++) {
    const start = work[w];
    labels.push(start);
    let p = start;
    let k = 0;
    while (p < 4096) {
      const m = meta[base + (p >>> 1)];
      if (!isCompiled(m)) break;
      if (p !== start && seen[p >>> 1]) break;
      if (k === MAX_RUN) {
        add(p);
        break;
      }
      const op = m & 0xff;
      add(directTarget(op, p, imm[base + (p >>> 1)]));
      k++;
      insts++;
      if (endsRun(op)) break;
      p += mLen(m);
    }
  }
  return labels.sort((a, b) => a - b);
}

/** Builds the source of one page function. */
class Emitter {
  private out: string[] = [];
  private tmp = 0;
  /** Per guest register: the local holding its low / high word in the current run, if any. */
  private lo: (string | undefined)[] = [];
  private hi: (string | undefined)[] = [];

  constructor(
    private readonly t: JitTarget,
    private readonly base: number,
    private readonly labelIndex: Int16Array,
  ) {}

  private line(s: string): void {
    this.out.push(s);
  }

  private name(): string {
    return `t${this.tmp++}`;
  }

  private forget(): void {
    this.lo.length = 0;
    this.hi.length = 0;
  }

  /** An expression for the low word of register r (2·r is its index in hart.x). */
  private rlo(r: number): string {
    if (r === 0) return '0';
    let v = this.lo[r];
    if (v === undefined) {
      v = this.name();
      this.line(`const ${v} = x[${2 * r}];`);
      this.lo[r] = v;
    }
    return v;
  }

  private rhi(r: number): string {
    if (r === 0) return '0';
    let v = this.hi[r];
    if (v === undefined) {
      v = this.name();
      this.line(`const ${v} = x[${2 * r + 1}];`);
      this.hi[r] = v;
    }
    return v;
  }

  /** Write register rd (never 0) from expressions already computed (evaluate sources first). */
  private set(rd: number, loExpr: string, hiExpr: string): void {
    const l = this.name();
    const h = this.name();
    this.line(`const ${l} = ${loExpr}, ${h} = ${hiExpr};`);
    this.line(`x[${2 * rd}] = ${l}; x[${2 * rd + 1}] = ${h};`);
    this.lo[rd] = l;
    this.hi[rd] = h;
  }

  /** Set rd to a 32-bit result sign-extended. */
  private set32(rd: number, expr: string): void {
    const l = this.name();
    this.line(`const ${l} = ${expr};`);
    this.set(rd, l, `${l} >> 31`);
  }

  /** Leave with `rem` of this run's counted instructions not executed; continue at page offset `p`. */
  private leave(rem: number, p: number): string {
    return `{ io[0] = n - ${rem}; return ${p}; }`;
  }

  /** Go to in-page offset t (after `rem` uncounted): a label stays in the function. */
  private goto(rem: number, t: number): string {
    const adj = rem ? `n -= ${rem}; ` : '';
    return this.labelIndex[t >>> 1] >= 0 ? `{ ${adj}off = ${t}; continue; }` : this.leave(rem, t);
  }

  /** Go to virtual pageLo + t for an out-of-page t (a signed page offset). */
  private gotoFar(rem: number, t: number): string {
    return `{ const s = (pageLo >>> 0) + ${t}; h.pcLo = s | 0; h.pcHi = (pcHi + (s < 0 ? -1 : s > 4294967295 ? 1 : 0)) | 0; io[0] = n - ${rem}; return -1; }`;
  }

  /** rd = the virtual address of page offset `q` (4096 at most: the next page's start needs a carry). */
  private link(rd: number, q: number): void {
    if (q < 4096) {
      this.set(rd, `pageLo | ${q}`, 'pcHi');
      return;
    }
    const s = this.name();
    this.line(`const ${s} = (pageLo >>> 0) + ${q};`);
    this.set(rd, `${s} | 0`, `(pcHi + (${s} > 4294967295 ? 1 : 0)) | 0`);
  }

  /** The effective address of a load/store into locals; returns [lo, hi] names. */
  private address(r1: number, im: number): [string, string] {
    const al = this.rlo(r1);
    const ah = this.rhi(r1);
    if (im === 0) return [al, ah];
    const l = this.name();
    const h = this.name();
    this.line(`const ${l} = (${al} + ${im}) | 0;`);
    this.line(`const ${h} = (${ah} + ${im >> 31} + (${l} >>> 0 < ${al} >>> 0 ? 1 : 0)) | 0;`);
    return [l, h];
  }

  /** RAM offset of (l, h) for an aligned access of `size` through TLB set `set`, or -1, into a local. */
  private ramOffset(l: string, h: string, size: number, set: string): string {
    const o = this.name();
    const j = this.name();
    const { ramBase, ramSize } = this.t;
    this.line(`let ${o} = -1;`);
    this.line(
      `if (dBare) { if (${h} === 0) ${o} = (${l} >>> 0) - ${ramBase}; } else { const ${j} = ${set} + ((${l} >>> 12) & ${TLB_SIZE - 1}); if (tlbTag[${j}] === ${h} * 1048576 + (${l} >>> 12)) ${o} = tlbPa[${j}] - ${ramBase} + (${l} & 4095); }`,
    );
    const misaligned = size > 1 ? ` || (${l} & ${size - 1}) !== 0` : '';
    this.line(`if (${o} < 0 || ${o} > ${ramSize - size}${misaligned})`);
    return o;
  }

  /**
   * Emit the run starting at label `start`; `next` is the following label's offset (4096 when none).
   * Returns nothing: the code goes to this.out.
   */
  run(start: number, next: number): void {
    const { meta, imm } = this.t.dcache;
    const base = this.base;
    // First the run's extent: positions until a label, an unconditional jump or an instruction left
    // to the interpreter.
    const ps: number[] = [];
    let p = start;
    let tail: 'fall' | 'leave' | 'jump' = 'leave';
    while (p < 4096) {
      if (p !== start && p === next) {
        tail = 'fall';
        break;
      }
      if (p !== start && this.labelIndex[p >>> 1] >= 0) break; // an overlapping label: leave via goto
      const m = meta[base + (p >>> 1)];
      if (!isCompiled(m) || ps.length === MAX_RUN) break;
      ps.push(p);
      if (endsRun(m & 0xff)) {
        tail = 'jump';
        break;
      }
      p += mLen(m);
    }
    const len = ps.length;
    this.forget();
    this.line(`case ${this.labelIndex[start >>> 1]}: {`);
    this.line(`if (n > budget - ${len}) { io[0] = n; return ${start}; }`);
    this.line(`n += ${len};`);
    for (let k = 0; k < len; k++)
      this.inst(ps[k], meta[base + (ps[k] >>> 1)], imm[base + (ps[k] >>> 1)], len - k);
    if (tail === 'leave') this.line(p >= 4096 ? this.leave(0, 4096) : this.goto(0, p));
    this.line('}');
  }

  /** One instruction at page offset p; `rem` counted instructions of the run are from it on. */
  private inst(p: number, m: number, im: number, rem: number): void {
    const op = m & 0xff;
    const rd = (m >>> 9) & 31;
    const r1 = (m >>> 15) & 31;
    const r2 = (m >>> 21) & 31;
    const ilen = mLen(m);
    switch (op) {
      case Op.Nop:
        return;
      case Op.Lui:
      case Op.Li:
        this.set(rd, `${im | 0}`, `${im >> 31}`);
        return;
      case Op.Auipc: {
        const s = this.name();
        this.line(`const ${s} = (pageLo >>> 0) + ${p + im};`);
        this.set(rd, `${s} | 0`, `(pcHi + (${s} < 0 ? -1 : ${s} > 4294967295 ? 1 : 0)) | 0`);
        return;
      }
      case Op.Jal:
      case Op.J: {
        if (op === Op.Jal) this.link(rd, p + ilen);
        const t = p + im;
        this.line(t >= 0 && t < 4096 ? this.goto(rem - 1, t) : this.gotoFar(rem - 1, t));
        return;
      }
      case Op.Jalr:
      case Op.Jr: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const s = this.name();
        const tl = this.name();
        const th = this.name();
        this.line(`const ${s} = (${al} + ${im}) | 0;`);
        this.line(`const ${tl} = ${s} & -2;`);
        this.line(`const ${th} = (${ah} + ${im >> 31} + (${s} >>> 0 < ${al} >>> 0 ? 1 : 0)) | 0;`);
        if (op === Op.Jalr) this.link(rd, p + ilen);
        this.line(`n -= ${rem - 1};`);
        this.line(`if (${th} === pcHi && (${tl} & -4096) === pageLo) { off = ${tl} & 4095; continue; }`);
        this.line(`h.pcLo = ${tl}; h.pcHi = ${th}; io[0] = n; return -1;`);
        return;
      }
      case Op.Beq:
      case Op.Bne:
      case Op.Blt:
      case Op.Bge:
      case Op.Bltu:
      case Op.Bgeu: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const bl = this.rlo(r2);
        const bh = this.rhi(r2);
        let c: string;
        if (op === Op.Beq) c = `${al} === ${bl} && ${ah} === ${bh}`;
        else if (op === Op.Bne) c = `${al} !== ${bl} || ${ah} !== ${bh}`;
        else if (op === Op.Blt || op === Op.Bge) {
          c = `${ah} < ${bh} || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`;
          if (op === Op.Bge) c = `!(${c})`;
        } else {
          c = `${ah} >>> 0 < ${bh} >>> 0 || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`;
          if (op === Op.Bgeu) c = `!(${c})`;
        }
        const t = p + im;
        this.line(`if (${c}) ${t >= 0 && t < 4096 ? this.goto(rem - 1, t) : this.gotoFar(rem - 1, t)}`);
        return;
      }
      case Op.Lb:
      case Op.Lh:
      case Op.Lw:
      case Op.Ld:
      case Op.Lbu:
      case Op.Lhu:
      case Op.Lwu: {
        const size =
          op === Op.Ld ? 8 : op === Op.Lw || op === Op.Lwu ? 4 : op === Op.Lb || op === Op.Lbu ? 1 : 2;
        const [l, h] = this.address(r1, im);
        const o = this.ramOffset(l, h, size, 'dR');
        this.line(`  ${this.leave(rem, p)}`);
        switch (op) {
          case Op.Ld:
            this.set(rd, `mem32[${o} >>> 2]`, `mem32[(${o} >>> 2) + 1]`);
            return;
          case Op.Lw:
            this.set32(rd, `mem32[${o} >>> 2]`);
            return;
          case Op.Lwu:
            this.set(rd, `mem32[${o} >>> 2]`, '0');
            return;
          case Op.Lbu:
            this.set(rd, `mem8[${o}]`, '0');
            return;
          case Op.Lhu:
            this.set(rd, `mem16[${o} >>> 1]`, '0');
            return;
          case Op.Lb:
            this.set32(rd, `(mem8[${o}] << 24) >> 24`);
            return;
          default:
            this.set32(rd, `(mem16[${o} >>> 1] << 16) >> 16`);
            return;
        }
      }
      case Op.Sb:
      case Op.Sh:
      case Op.Sw:
      case Op.Sd: {
        const size = 1 << (op - Op.Sb);
        const vl = this.rlo(r2);
        const vh = size === 8 ? this.rhi(r2) : '';
        const [l, h] = this.address(r1, im);
        const o = this.ramOffset(l, h, size, 'dW');
        this.line(`  ${this.leave(rem, p)}`);
        // A store into decoded code is the run loop's to do: it drops the chunk (and this function).
        const s = this.name();
        this.line(`const ${s} = pageSlot[${o} >>> 12];`);
        this.line(
          `if (${s} >= 0 && (codeMask[${s}] & (1 << ((${o} >>> 7) & 31))) !== 0) ${this.leave(rem, p)}`,
        );
        const rv = this.name();
        this.line(`const ${rv} = h.reservation;`);
        this.line(`if (${rv} >= 0 && Math.abs(${o} + ${this.t.ramBase} - ${rv}) < 8) h.reservation = -1;`);
        if (size === 8) this.line(`mem32[${o} >>> 2] = ${vl}; mem32[(${o} >>> 2) + 1] = ${vh};`);
        else if (size === 4) this.line(`mem32[${o} >>> 2] = ${vl};`);
        else if (size === 2) this.line(`mem16[${o} >>> 1] = ${vl};`);
        else this.line(`mem8[${o}] = ${vl};`);
        return;
      }
      case Op.Mv:
        this.set(rd, this.rlo(r1), this.rhi(r1));
        return;
      case Op.Addi: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const l = this.name();
        this.line(`const ${l} = (${al} + ${im}) | 0;`);
        this.set(rd, l, `(${ah} + ${im >> 31} + (${l} >>> 0 < ${al} >>> 0 ? 1 : 0)) | 0`);
        return;
      }
      case Op.Slti:
      case Op.Sltiu:
      case Op.Slt:
      case Op.Sltu: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const imm = op === Op.Slti || op === Op.Sltiu;
        const bl = imm ? `${im | 0}` : this.rlo(r2);
        const bh = imm ? `${im >> 31}` : this.rhi(r2);
        const signed = op === Op.Slti || op === Op.Slt;
        const c = signed
          ? `${ah} < ${bh} || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`
          : `${ah} >>> 0 < ${bh} >>> 0 || (${ah} === ${bh} && ${al} >>> 0 < ${bl} >>> 0)`;
        this.set(rd, `(${c}) ? 1 : 0`, '0');
        return;
      }
      case Op.Xori:
      case Op.Ori:
      case Op.Andi:
      case Op.Xor:
      case Op.Or:
      case Op.And: {
        const imm = op <= Op.Andi;
        const o = op === Op.Xori || op === Op.Xor ? '^' : op === Op.Ori || op === Op.Or ? '|' : '&';
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const bl = imm ? `${im | 0}` : this.rlo(r2);
        const bh = imm ? `${im >> 31}` : this.rhi(r2);
        this.set(rd, `${al} ${o} ${bl}`, `${ah} ${o} ${bh}`);
        return;
      }
      case Op.SlliLo: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        this.set(rd, `${al} << ${im}`, `(${ah} << ${im}) | (${al} >>> ${32 - im})`);
        return;
      }
      case Op.SlliHi:
        this.set(rd, '0', `${this.rlo(r1)} << ${im - 32}`);
        return;
      case Op.SrliLo:
      case Op.SraiLo: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        this.set(
          rd,
          `(${al} >>> ${im}) | (${ah} << ${32 - im})`,
          `${ah} ${op === Op.SraiLo ? '>>' : '>>>'} ${im} | 0`,
        );
        return;
      }
      case Op.SrliHi:
        this.set(rd, `(${this.rhi(r1)} >>> ${im - 32}) | 0`, '0');
        return;
      case Op.SraiHi: {
        const ah = this.rhi(r1);
        this.set(rd, `${ah} >> ${im - 32}`, `${ah} >> 31`);
        return;
      }
      case Op.Add: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const bl = this.rlo(r2);
        const bh = this.rhi(r2);
        const l = this.name();
        this.line(`const ${l} = (${al} + ${bl}) | 0;`);
        this.set(rd, l, `(${ah} + ${bh} + (${l} >>> 0 < ${al} >>> 0 ? 1 : 0)) | 0`);
        return;
      }
      case Op.Sub: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const bl = this.rlo(r2);
        const bh = this.rhi(r2);
        this.set(rd, `(${al} - ${bl}) | 0`, `(${ah} - ${bh} - (${al} >>> 0 < ${bl} >>> 0 ? 1 : 0)) | 0`);
        return;
      }
      case Op.Sll:
      case Op.Srl:
      case Op.Sra: {
        const al = this.rlo(r1);
        const ah = this.rhi(r1);
        const s = this.name();
        const l = this.name();
        const h = this.name();
        this.line(`const ${s} = ${this.rlo(r2)} & 63;`);
        this.line(`let ${l}, ${h};`);
        if (op === Op.Sll)
          this.line(
            `if (${s} === 0) { ${l} = ${al}; ${h} = ${ah}; } else if (${s} < 32) { ${h} = (${ah} << ${s}) | (${al} >>> (32 - ${s})); ${l} = ${al} << ${s}; } else { ${h} = ${al} << (${s} - 32); ${l} = 0; }`,
          );
        else {
          const sh = op === Op.Sra ? '>>' : '>>>';
          this.line(
            `if (${s} === 0) { ${l} = ${al}; ${h} = ${ah}; } else if (${s} < 32) { ${l} = (${al} >>> ${s}) | (${ah} << (32 - ${s})); ${h} = ${ah} ${sh} ${s} | 0; } else { ${l} = ${ah} ${sh} (${s} - 32) | 0; ${h} = ${op === Op.Sra ? `${ah} >> 31` : '0'}; }`,
          );
        }
        this.set(rd, l, h);
        return;
      }
      case Op.Addiw:
        this.set32(rd, `(${this.rlo(r1)} + ${im}) | 0`);
        return;
      case Op.Slliw:
        this.set32(rd, `${this.rlo(r1)} << ${im}`);
        return;
      case Op.Srliw:
        this.set32(rd, `(${this.rlo(r1)} >>> ${im}) | 0`);
        return;
      case Op.Sraiw:
        this.set32(rd, `${this.rlo(r1)} >> ${im}`);
        return;
      case Op.Addw:
        this.set32(rd, `(${this.rlo(r1)} + ${this.rlo(r2)}) | 0`);
        return;
      case Op.Subw:
        this.set32(rd, `(${this.rlo(r1)} - ${this.rlo(r2)}) | 0`);
        return;
      case Op.Sllw:
        this.set32(rd, `${this.rlo(r1)} << (${this.rlo(r2)} & 31)`);
        return;
      case Op.Srlw:
        this.set32(rd, `(${this.rlo(r1)} >>> (${this.rlo(r2)} & 31)) | 0`);
        return;
      case Op.Sraw:
        this.set32(rd, `${this.rlo(r1)} >> (${this.rlo(r2)} & 31)`);
        return;
      case Op.Mulw:
        this.set32(rd, `Math.imul(${this.rlo(r1)}, ${this.rlo(r2)})`);
        return;
      case Op.Mul:
      case Op.Mulh:
      case Op.Mulhsu:
      case Op.Mulhu:
      case Op.Div:
      case Op.Divu:
      case Op.Rem:
      case Op.Remu: {
        const args = `${this.rlo(r1)}, ${this.rhi(r1)}, ${this.rlo(r2)}, ${this.rhi(r2)}`;
        const call = [
          `mul64(${args})`,
          `mulh64(${args})`,
          `mulhsu64(${args})`,
          `mulhu64(${args})`,
          `div64(${args}, true, false)`,
          `div64(${args}, false, false)`,
          `div64(${args}, true, true)`,
          `div64(${args}, false, true)`,
        ][op - Op.Mul];
        this.line(`${call};`);
        this.set(rd, 'out[0]', 'out[1]');
        return;
      }
      case Op.Divw:
      case Op.Divuw:
      case Op.Remw:
      case Op.Remuw: {
        const signed = op === Op.Divw || op === Op.Remw;
        this.line(`div32(${this.rlo(r1)}, ${this.rlo(r2)}, ${signed}, ${op >= Op.Remw});`);
        this.set(rd, 'out[0]', 'out[1]');
        return;
      }
      default:
        // Not reached: chooseLabels only compiles entries with a handler here.
        this.line(this.leave(rem, p));
    }
  }

  source(): string {
    return this.out.join('\n');
  }
}

/** Compile the region of decode-cache slot `slot` entered at page offset `entry`, and install it. */
export function compileRegion(t: JitTarget, slot: number, entry: number): void {
  const dc = t.dcache;
  const base = slot * SLOT_ENTRIES;
  const m = dc.meta[base + (entry >>> 1)];
  if (!isCompiled(m) || m & JIT_ENTRY || dc.jitDisabled) return;
  const t0 = performance.now();
  const labels = chooseLabels(dc, base, entry);
  const labelIndex = new Int16Array(2049).fill(-1);
  labels.forEach((p, k) => (labelIndex[p >>> 1] = k));
  const e = new Emitter(t, base, labelIndex);
  for (let k = 0; k < labels.length; k++) e.run(labels[k], k + 1 < labels.length ? labels[k + 1] : 4096);
  const body = `return function page(h, off, n, budget, pageLo, pcHi, dBare, dR, dW) {
const x = h.x, tlbTag = h.tlbTag, tlbPa = h.tlbPa;
for (;;) {
switch (L[off >>> 1]) {
${e.source()}
default: io[0] = n; return off;
}
}
};`;
  let fn: PageFn;
  try {
    const factory = new Function(
      'L', 'io', 'mem8', 'mem16', 'mem32', 'pageSlot', 'codeMask',
      'out', 'mul64', 'mulh64', 'mulhsu64', 'mulhu64', 'div64', 'div32',
      body,
    ) as (...a: unknown[]) => PageFn; // prettier-ignore
    fn = factory(
      labelIndex, jitIo, t.mem8, t.mem16, t.mem32, dc.pageSlot, dc.codeMask,
      out, mul64, mulh64, mulhsu64, mulhu64, div64, div32,
    ); // prettier-ignore
  } catch {
    // A page that forbids eval (a Content-Security-Policy without 'unsafe-eval'): stay interpreted.
    dc.jitDisabled = true;
    return;
  }
  dc.setRegion(slot, base + (entry >>> 1), fn, body.length);
  const ms = performance.now() - t0;
  dc.jitCompiles++;
  if (ms > dc.jitLongestMs) dc.jitLongestMs = ms;
}
