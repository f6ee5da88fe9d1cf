/**
 * The hart's fast path: a decoder into the decoded-instruction cache (decode-cache.ts) and the run loop
 * that executes from it. The common RV64IMC instructions — integer ALU, M, loads, stores, branches and
 * jumps — have their own handler in one switch, with register numbers and immediates pre-extracted at
 * decode time; everything else (CSRs, AMOs, F/D, system and privileged instructions, illegal encodings)
 * goes through the reference executor in execute.ts, which stays the definition of the semantics.
 *
 * The loop keeps the pc as (page, offset) in locals while it runs inside one virtual page: sequential
 * code, in-page branches and jumps touch no hart field. Leaving the page, any fault, any instruction
 * handled by execute.ts, MMIO and TLB misses write the pc back to the hart (`base = -1`) and the next
 * iteration re-establishes the page through the TLB. Data accesses check the TLB inline; the slow path
 * is Hart.load/store. Nothing here allocates and BigInt never appears.
 *
 * The file is longer than the project's usual ~600 lines on purpose: the run loop is one function with one
 * switch so that the hart's arrays and the pc stay in locals V8 can keep in registers, with no call per
 * instruction; the decoder above it is the only other part.
 */
import { div32, div64, mul64, mulh64, mulhsu64, mulhu64, out } from './alu64.js';
import * as C from './constants.js';
import { Access, StopReason, TLB_SIZE } from './constants.js';
import { JIT_ENTRY, SLOT_ENTRIES } from './decode-cache.js';
import { fill, Op } from './decode.js';
import type { Hart } from './hart.js';
import { compileQueuedLater, compileRegion } from './jit.js';
import { genericInWasm, REENTER } from './jit-dispatch.js';
import { RESTART, setHostHart } from './jit-host.js';
import { INTERP_OPS } from './jit-interp.js';

/** RAM offset of physical address (lo, hi) when translation is off; -1 when it is not in RAM's range. */
const bareOffset = (lo: number, hi: number, ramBase: number): number =>
  hi === 0 ? (lo >>> 0) - ramBase : -1;

/**
 * RAM offset of virtual (lo, hi) on a hit in TLB set `set` (a data access's set) of a RAM page, else -1:
 * the compiled code's copy of the entries (two int32 compares, where the doubles took a multiply).
 */
function tlbOffset(w64: Int32Array, ram: Int32Array, set: number, lo: number, hi: number): number {
  const j = set + ((lo >>> 12) & (TLB_SIZE - 1));
  return w64[2 * j] === (lo & ~0xfff) && w64[2 * j + 1] === hi ? (ram[j] >>> 0) + (lo & 0xfff) : -1;
}

/**
 * The TLB set of data reads at privilege `dp` (0 or 1; with 3 the accesses are bare and it is not used):
 * U-mode's, or S-mode's with or without SUM. Arithmetic rather than a branch on the privilege: V8
 * optimizes the run loop during the warm-up, which never runs in U-mode, and a branch first taken by the
 * guest throws that code away.
 */
const dSet = (dp: number, mstatus: number): number => (dp & 1) * (1 + ((mstatus >>> 18) & 1)) * TLB_SIZE;

/** The mode argument of compiled code (jit-dispatch.ts): physical data addresses, FPU on, FS Dirty. */
const jitMode = (dBare: boolean, mstatus: number): number => {
  const fs = (mstatus >>> 13) & 3;
  return (dBare ? 1 : 0) | (fs ? 2 : 0) | (fs === 3 ? 4 : 0);
};

const lts = (alo: number, ahi: number, blo: number, bhi: number): boolean =>
  ahi < bhi || (ahi === bhi && alo >>> 0 < blo >>> 0);
const ltu = (alo: number, ahi: number, blo: number, bhi: number): boolean =>
  ahi >>> 0 < bhi >>> 0 || (ahi === bhi && alo >>> 0 < blo >>> 0);

/** Advance the hart's pc by `len` (after an instruction completed on a slow path). */
function advance(h: Hart, len: number): void {
  const lo = (h.pcLo + len) | 0;
  if (lo >>> 0 < h.pcLo >>> 0) h.pcHi = (h.pcHi + 1) | 0;
  h.pcLo = lo;
}

/** Load through Hart.load (TLB miss, MMIO, misaligned, faults), with the pc of the load in the hart. */
function loadSlow(h: Hart, lo: number, hi: number, op: Op, rd: number, len: number): void {
  const size = op === Op.Ld ? 8 : op === Op.Lw || op === Op.Lwu ? 4 : op === Op.Lh || op === Op.Lhu ? 2 : 1;
  h.trapped = false;
  if (!h.load(lo, hi, size)) return;
  let v = h.tmp[0];
  let vh = h.tmp[1];
  if (op === Op.Lb) v = (v << 24) >> 24;
  else if (op === Op.Lh) v = (v << 16) >> 16;
  if (op === Op.Lb || op === Op.Lh || op === Op.Lw) vh = v >> 31;
  else if (op !== Op.Ld) vh = 0;
  h.x[rd] = v;
  h.x[rd + 1] = vh;
  advance(h, len);
}

function storeSlow(h: Hart, lo: number, hi: number, size: number, r2: number, len: number): void {
  h.trapped = false;
  if (h.store(lo, hi, size, h.x[r2], h.x[r2 + 1])) advance(h, len);
}

/** Execute up to `budget` instructions on `h`; returns a {@link StopReason}. */
const EMPTY_HEAT = new Uint16Array(0);
const EMPTY_IDX = new Int32Array(0);

export function run(h: Hart, budget: number): number {
  const x = h.x;
  const dc = h.dcache; // prepared by the Hart
  const meta = dc.meta;
  const immA = dc.imm;
  const pageSlot = dc.pageSlot;
  const codeMask = dc.codeMask;
  const mem8 = h.mem8;
  const mem16 = h.mem16;
  const mem32 = h.mem32;
  const ramBase = h.ramBase;
  const ramSize = h.ramSize;
  const tlbW64 = h.tlbW64;
  const tlbRam = h.tlbRam;
  // The JIT: how often the loop arrived at each position by a jump or from another page, the compiled
  // page functions, and the position just handed back by one (executed here once, not re-entered).
  const jc = h.jit ? dc.prepareJit(h.ramBase) : null;
  const jit = jc !== null && !jc.disabled;
  const wasmInterp = jit && h.jitInterp;
  if (jc !== null) setHostHart(h);
  const jitHot = h.jitHot;
  const heat = jc ? jc.heat : EMPTY_HEAT;
  const regionIdx = jc ? jc.regionIdx : EMPTY_IDX;
  // A page entered by the dispatcher's return -2: its first instruction runs here first.
  let skipFirst = false;
  let iSet = -1;
  let skipOff = -1;
  const jitArea = h.jitArea;
  const jitIo = h.jitIo;
  // Harts on threads: another thread asks this one to end its slice (memory.ts HS_KICK, jitIo[10]).
  const kickable = h.shared;
  h.stop = StopReason.Budget;
  let n = 0;
  /** instret = ic0 + n while running. */
  let ic0 = h.instretCount;
  // The current page: decode index of its slot (-1: the pc is in h.pcLo/pcHi, re-establish), its
  // virtual address (pageLo, pcHi), its RAM offset and the pc's offset in it.
  let base = -1;
  let slot = 0;
  let pageLo = 0;
  let pcHi = 0;
  let ramPage = 0;
  let off = 0;
  let gen = 0;
  // Data accesses: bare (physical = virtual) or the TLB sets for reads and writes; the LR reservation.
  let dBare = true;
  /** Compiled code's mode argument: bit 0 dBare, bit 1 the FPU on, bit 2 FS Dirty (jit-dispatch.ts). */
  let mode = 1;
  let dR = 0;
  let dW = 0;
  let resv = -1;
  /** base is -1 because the pc jumped to another page (nothing else changed). */
  let jumped = false;
  for (;;) {
    if (base < 0) {
      if (h.stop !== StopReason.Budget || n >= budget || (kickable && jitIo[10] !== 0)) break;
      const lo = h.pcLo;
      const hi = h.pcHi;
      // After a jump (here or in compiled code) only the pc moved: privilege, data-access mode and
      // reservation are as they were, so a hit in the instruction TLB set is the whole translation
      // (as in the dispatcher). 13 M of the desktop start-up's 15 M page changes are jumps.
      let ro = -1;
      if (jumped) {
        jumped = false;
        if (!h.irqCheck)
          ro = iSet < 0 ? bareOffset(lo, hi, ramBase) : tlbOffset(tlbW64, tlbRam, iSet, lo, hi);
      }
      if (ro < 0 || ro >= ramSize) {
        if (h.irqCheck) {
          h.irqCheck = false;
          h.checkInterrupts();
        }
        const dp = h.dataPriv();
        dBare = dp === 3 || h.satpMode === 0;
        dR = dSet(dp, h.mstatus);
        dW = dR + 3 * TLB_SIZE;
        mode = jitMode(dBare, h.mstatus);
        resv = h.reservation;
        iSet = h.priv === 3 || h.satpMode === 0 ? -1 : (6 + (h.priv & 1)) * TLB_SIZE;
        h.trapped = false;
        const pa = h.translate(h.pcLo, h.pcHi, Access.Exec);
        ro = pa - ramBase;
        if (pa >= 0 && (ro < 0 || ro >= ramSize)) h.trap(C.EXC_INST_ACCESS, false, h.pcLo, h.pcHi);
        if (h.trapped) {
          n++; // a fetch fault counts, as it always has
          continue;
        }
      }
      const pc = h.pcLo;
      ramPage = ro - (pc & 0xfff);
      const ps = pageSlot[ramPage >>> 12];
      slot = ps >= 0 ? ps : dc.slotFor(ramPage >>> 12);
      base = slot * SLOT_ENTRIES;
      gen = dc.gen;
      pageLo = pc & ~0xfff;
      pcHi = h.pcHi;
      off = pc & 0xfff;
      h.setFetchPage(pc, pcHi, ramPage);
      if (jit) {
        if (skipFirst) {
          skipOff = off;
          skipFirst = false;
        } else if (++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
      }
    }
    if (n >= budget) {
      // off is 4096 when the page's last instruction has just retired and the NextPage sentinel is
      // still ahead: the pc is the next page, so add (pageLo | 4096 is this page again when bit 12 of
      // pageLo is set — the bug that crashed Xorg on the fast path).
      const s = (pageLo >>> 0) + off;
      h.pcLo = s | 0;
      h.pcHi = s > 0xffffffff ? (pcHi + 1) | 0 : pcHi;
      break;
    }
    const i = base + (off >>> 1);
    let m = meta[i];
    // Compiled code entered here (through the dispatcher), or the interpreter in wasm for what it runs.
    if (
      off !== skipOff &&
      (m & JIT_ENTRY ||
        (wasmInterp && INTERP_OPS[m & 0xff] && ((m & 0xff) !== Op.Generic || genericInWasm(immA[i]))))
    ) {
      h.jitIc0 = ic0;
      let r: number;
      if (m & JIT_ENTRY) {
        jc!.entries++;
        r = jc!.dispatch(jitArea, regionIdx[i], off, n, budget, pageLo, pcHi, mode, dR, dW, iSet, slot);
      } else {
        jc!.interps++;
        r = jc!.interp(jitArea, slot, off, n, budget, pageLo, pcHi, mode, dR, dW, iSet, jitHot);
      }
      n = jitIo[0];
      // Kicked: stop here (it handed back at once), as at the end of the budget.
      if (kickable && jitIo[10] !== 0) budget = n;
      resv = h.reservation;
      if (r < 0) {
        // -1 and -2 (it moved to another page), RESTART (a CSR changed the mode): the pc is in jitIo.
        h.pcLo = jitIo[2];
        h.pcHi = jitIo[3];
        base = -1;
        skipFirst = r === -2;
        jumped = r !== RESTART;
      } else if (r & REENTER) {
        // (The dispatcher's only: the interpreter enters what is compiled at a jump's target itself.)
        off = r & 0xfff;
        skipOff = -1;
        if (++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
      } else off = skipOff = r;
      continue;
    }
    skipOff = -1;
    n++;
    if (m === 0) m = fill(dc, slot, i, mem16, ramPage + off, off);
    switch (m & 0xff) {
      case Op.NextPage: {
        // Sequential execution ran off the page: not an instruction.
        n--;
        const s = (pageLo >>> 0) + 4096;
        h.pcLo = s | 0;
        h.pcHi = s > 0xffffffff ? (pcHi + 1) | 0 : pcHi;
        base = -1;
        jumped = true;
        break;
      }
      case Op.Nop:
        off += m >>> 26;
        break;
      case Op.Lui: {
        const rd = (m >>> 8) & 62;
        const v = immA[i];
        x[rd] = v;
        x[rd + 1] = v >> 31;
        off += m >>> 26;
        break;
      }
      case Op.Auipc: {
        const rd = (m >>> 8) & 62;
        const s = (pageLo >>> 0) + off + immA[i];
        x[rd] = s | 0;
        x[rd + 1] = (pcHi + (s < 0 ? -1 : s > 0xffffffff ? 1 : 0)) | 0;
        off += m >>> 26;
        break;
      }
      case Op.Jal:
      case Op.J: {
        if ((m & 0xff) === Op.Jal) {
          const rd = (m >>> 8) & 62;
          const s = (pageLo >>> 0) + off + (m >>> 26);
          x[rd] = s | 0;
          x[rd + 1] = s > 0xffffffff ? (pcHi + 1) | 0 : pcHi;
        }
        const t = off + immA[i];
        if (t >= 0 && t < 4096) {
          off = t;
          if (jit && ++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
        } else {
          const s = (pageLo >>> 0) + t;
          h.pcLo = s | 0;
          h.pcHi = (pcHi + (s < 0 ? -1 : s > 0xffffffff ? 1 : 0)) | 0;
          base = -1;
          jumped = true;
        }
        break;
      }
      case Op.Jalr:
      case Op.Jr: {
        const a = (m >>> 14) & 62;
        const alo = x[a];
        const im = immA[i];
        const sum = (alo + im) | 0;
        const tlo = sum & ~1;
        const thi = (x[a + 1] + (im >> 31) + (sum >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
        if ((m & 0xff) === Op.Jalr) {
          const rd = (m >>> 8) & 62;
          const s = (pageLo >>> 0) + off + (m >>> 26);
          x[rd] = s | 0;
          x[rd + 1] = s > 0xffffffff ? (pcHi + 1) | 0 : pcHi;
        }
        if (thi === pcHi && (tlo & ~0xfff) === pageLo) {
          off = tlo & 0xfff;
          if (jit && ++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
        } else {
          h.pcLo = tlo;
          h.pcHi = thi;
          base = -1;
          jumped = true;
        }
        break;
      }
      case Op.Beq:
      case Op.Bne:
      case Op.Blt:
      case Op.Bge:
      case Op.Bltu:
      case Op.Bgeu: {
        const a = (m >>> 14) & 62;
        const b = (m >>> 20) & 62;
        const alo = x[a];
        const ahi = x[a + 1];
        const blo = x[b];
        const bhi = x[b + 1];
        let take: boolean;
        switch (m & 0xff) {
          case Op.Beq:
            take = alo === blo && ahi === bhi;
            break;
          case Op.Bne:
            take = alo !== blo || ahi !== bhi;
            break;
          case Op.Blt:
            take = lts(alo, ahi, blo, bhi);
            break;
          case Op.Bge:
            take = !lts(alo, ahi, blo, bhi);
            break;
          case Op.Bltu:
            take = ltu(alo, ahi, blo, bhi);
            break;
          default:
            take = !ltu(alo, ahi, blo, bhi);
        }
        if (!take) off += m >>> 26;
        else {
          const t = off + immA[i];
          if (t >= 0 && t < 4096) {
            off = t;
            if (jit && ++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
          } else {
            const s = (pageLo >>> 0) + t;
            h.pcLo = s | 0;
            h.pcHi = (pcHi + (s < 0 ? -1 : s > 0xffffffff ? 1 : 0)) | 0;
            base = -1;
            jumped = true;
          }
        }
        break;
      }
      case Op.Lb:
      case Op.Lh:
      case Op.Lw:
      case Op.Ld:
      case Op.Lbu:
      case Op.Lhu:
      case Op.Lwu: {
        const a = (m >>> 14) & 62;
        const alo = x[a];
        const im = immA[i];
        const lo = (alo + im) | 0;
        const hi = (x[a + 1] + (im >> 31) + (lo >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
        const op = m & 0xff;
        const size =
          op === Op.Ld ? 8 : op === Op.Lw || op === Op.Lwu ? 4 : op === Op.Lb || op === Op.Lbu ? 1 : 2;
        const o = dBare ? bareOffset(lo, hi, ramBase) : tlbOffset(tlbW64, tlbRam, dR, lo, hi);
        const rd = (m >>> 8) & 62;
        if (o >= 0 && o <= ramSize - size && (lo & (size - 1)) === 0) {
          switch (op) {
            case Op.Ld:
              x[rd] = mem32[o >>> 2];
              x[rd + 1] = mem32[(o >>> 2) + 1];
              break;
            case Op.Lw: {
              const v = mem32[o >>> 2];
              x[rd] = v;
              x[rd + 1] = v >> 31;
              break;
            }
            case Op.Lwu:
              x[rd] = mem32[o >>> 2];
              x[rd + 1] = 0;
              break;
            case Op.Lbu:
              x[rd] = mem8[o];
              x[rd + 1] = 0;
              break;
            case Op.Lhu:
              x[rd] = mem16[o >>> 1];
              x[rd + 1] = 0;
              break;
            case Op.Lb: {
              const v = (mem8[o] << 24) >> 24;
              x[rd] = v;
              x[rd + 1] = v >> 31;
              break;
            }
            default: {
              const v = (mem16[o >>> 1] << 16) >> 16;
              x[rd] = v;
              x[rd + 1] = v >> 31;
            }
          }
          off += m >>> 26;
          break;
        }
        h.pcLo = pageLo | off;
        h.pcHi = pcHi;
        loadSlow(h, lo, hi, op, rd, m >>> 26);
        base = -1;
        break;
      }
      case Op.Sb:
      case Op.Sh:
      case Op.Sw:
      case Op.Sd: {
        const a = (m >>> 14) & 62;
        const alo = x[a];
        const im = immA[i];
        const lo = (alo + im) | 0;
        const hi = (x[a + 1] + (im >> 31) + (lo >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
        const op = m & 0xff;
        const size = 1 << (op - Op.Sb);
        const o = dBare ? bareOffset(lo, hi, ramBase) : tlbOffset(tlbW64, tlbRam, dW, lo, hi);
        const b = (m >>> 20) & 62;
        if (o >= 0 && o <= ramSize - size && (lo & (size - 1)) === 0) {
          const s = pageSlot[o >>> 12];
          if (s >= 0 && codeMask[s] & (1 << ((o >>> 7) & 31))) dc.invalidateChunk(s, (o >>> 7) & 31);
          if (resv >= 0 && Math.abs(o + ramBase - resv) < 8) resv = h.reservation = -1;
          switch (op) {
            case Op.Sd:
              mem32[o >>> 2] = x[b];
              mem32[(o >>> 2) + 1] = x[b + 1];
              break;
            case Op.Sw:
              mem32[o >>> 2] = x[b];
              break;
            case Op.Sh:
              mem16[o >>> 1] = x[b];
              break;
            default:
              mem8[o] = x[b];
          }
          off += m >>> 26;
          break;
        }
        h.pcLo = pageLo | off;
        h.pcHi = pcHi;
        storeSlow(h, lo, hi, size, b, m >>> 26);
        base = -1;
        break;
      }
      case Op.Li: {
        const rd = (m >>> 8) & 62;
        const v = immA[i];
        x[rd] = v;
        x[rd + 1] = v >> 31;
        off += m >>> 26;
        break;
      }
      case Op.Mv: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        x[rd] = x[a];
        x[rd + 1] = x[a + 1];
        off += m >>> 26;
        break;
      }
      case Op.Addi: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const alo = x[a];
        const im = immA[i];
        const lo = (alo + im) | 0;
        x[rd + 1] = (x[a + 1] + (im >> 31) + (lo >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
        x[rd] = lo;
        off += m >>> 26;
        break;
      }
      case Op.Slti:
      case Op.Sltiu:
      case Op.Xori:
      case Op.Ori:
      case Op.Andi:
      case Op.Slt:
      case Op.Sltu:
      case Op.Xor:
      case Op.Or:
      case Op.And: {
        // The immediate forms take the sign-extended immediate where the register forms take rs2.
        const op = m & 0xff;
        const imm = op <= Op.Andi;
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const b = (m >>> 20) & 62;
        const alo = x[a];
        const ahi = x[a + 1];
        const blo = imm ? immA[i] : x[b];
        const bhi = imm ? blo >> 31 : x[b + 1];
        switch (imm ? op - Op.Slti + Op.Slt : op) {
          case Op.Slt:
            x[rd] = lts(alo, ahi, blo, bhi) ? 1 : 0;
            x[rd + 1] = 0;
            break;
          case Op.Sltu:
            x[rd] = ltu(alo, ahi, blo, bhi) ? 1 : 0;
            x[rd + 1] = 0;
            break;
          case Op.Xor:
            x[rd] = alo ^ blo;
            x[rd + 1] = ahi ^ bhi;
            break;
          case Op.Or:
            x[rd] = alo | blo;
            x[rd + 1] = ahi | bhi;
            break;
          default:
            x[rd] = alo & blo;
            x[rd + 1] = ahi & bhi;
        }
        off += m >>> 26;
        break;
      }
      case Op.SlliLo: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const s = immA[i];
        const alo = x[a];
        x[rd + 1] = (x[a + 1] << s) | (alo >>> (32 - s));
        x[rd] = alo << s;
        off += m >>> 26;
        break;
      }
      case Op.SlliHi: {
        const rd = (m >>> 8) & 62;
        x[rd + 1] = x[(m >>> 14) & 62] << (immA[i] - 32);
        x[rd] = 0;
        off += m >>> 26;
        break;
      }
      case Op.SrliLo:
      case Op.SraiLo: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const s = immA[i];
        const ahi = x[a + 1];
        x[rd] = (x[a] >>> s) | (ahi << (32 - s));
        x[rd + 1] = (m & 0xff) === Op.SraiLo ? ahi >> s : ahi >>> s;
        off += m >>> 26;
        break;
      }
      case Op.SrliHi: {
        const rd = (m >>> 8) & 62;
        x[rd] = x[((m >>> 14) & 62) + 1] >>> (immA[i] - 32);
        x[rd + 1] = 0;
        off += m >>> 26;
        break;
      }
      case Op.SraiHi: {
        const rd = (m >>> 8) & 62;
        const ahi = x[((m >>> 14) & 62) + 1];
        x[rd] = ahi >> (immA[i] - 32);
        x[rd + 1] = ahi >> 31;
        off += m >>> 26;
        break;
      }
      case Op.Add: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const b = (m >>> 20) & 62;
        const alo = x[a];
        const lo = (alo + x[b]) | 0;
        x[rd + 1] = (x[a + 1] + x[b + 1] + (lo >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
        x[rd] = lo;
        off += m >>> 26;
        break;
      }
      case Op.Sub: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const b = (m >>> 20) & 62;
        const alo = x[a];
        const blo = x[b];
        x[rd + 1] = (x[a + 1] - x[b + 1] - (alo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
        x[rd] = (alo - blo) | 0;
        off += m >>> 26;
        break;
      }
      case Op.Sll:
      case Op.Srl:
      case Op.Sra: {
        const rd = (m >>> 8) & 62;
        const a = (m >>> 14) & 62;
        const s = x[(m >>> 20) & 62] & 63;
        const alo = x[a];
        const ahi = x[a + 1];
        const op = m & 0xff;
        if (s === 0) {
          x[rd] = alo;
          x[rd + 1] = ahi;
        } else if (op === Op.Sll) {
          if (s < 32) {
            x[rd + 1] = (ahi << s) | (alo >>> (32 - s));
            x[rd] = alo << s;
          } else {
            x[rd + 1] = alo << (s - 32);
            x[rd] = 0;
          }
        } else if (s < 32) {
          x[rd] = (alo >>> s) | (ahi << (32 - s));
          x[rd + 1] = op === Op.Sra ? ahi >> s : ahi >>> s;
        } else {
          x[rd] = op === Op.Sra ? ahi >> (s - 32) : ahi >>> (s - 32);
          x[rd + 1] = op === Op.Sra ? ahi >> 31 : 0;
        }
        off += m >>> 26;
        break;
      }
      case Op.Addiw:
      case Op.Slliw:
      case Op.Srliw:
      case Op.Sraiw: {
        const rd = (m >>> 8) & 62;
        const a = x[(m >>> 14) & 62];
        const im = immA[i];
        const op = m & 0xff;
        const r =
          op === Op.Addiw
            ? (a + im) | 0
            : op === Op.Slliw
              ? a << im
              : op === Op.Srliw
                ? (a >>> im) | 0
                : a >> im;
        x[rd] = r;
        x[rd + 1] = r >> 31;
        off += m >>> 26;
        break;
      }
      case Op.Addw:
      case Op.Subw:
      case Op.Sllw:
      case Op.Srlw:
      case Op.Sraw:
      case Op.Mulw: {
        const rd = (m >>> 8) & 62;
        const a = x[(m >>> 14) & 62];
        const b = x[(m >>> 20) & 62];
        let r: number;
        switch (m & 0xff) {
          case Op.Addw:
            r = (a + b) | 0;
            break;
          case Op.Subw:
            r = (a - b) | 0;
            break;
          case Op.Sllw:
            r = a << (b & 31);
            break;
          case Op.Srlw:
            r = (a >>> (b & 31)) | 0;
            break;
          case Op.Sraw:
            r = a >> (b & 31);
            break;
          default:
            r = Math.imul(a, b);
        }
        x[rd] = r;
        x[rd + 1] = r >> 31;
        off += m >>> 26;
        break;
      }
      case Op.Mul:
      case Op.Mulh:
      case Op.Mulhsu:
      case Op.Mulhu:
      case Op.Div:
      case Op.Divu:
      case Op.Rem:
      case Op.Remu: {
        const a = (m >>> 14) & 62;
        const b = (m >>> 20) & 62;
        const alo = x[a];
        const ahi = x[a + 1];
        const blo = x[b];
        const bhi = x[b + 1];
        switch (m & 0xff) {
          case Op.Mul:
            mul64(alo, ahi, blo, bhi);
            break;
          case Op.Mulh:
            mulh64(alo, ahi, blo, bhi);
            break;
          case Op.Mulhsu:
            mulhsu64(alo, ahi, blo, bhi);
            break;
          case Op.Mulhu:
            mulhu64(alo, ahi, blo, bhi);
            break;
          case Op.Div:
            div64(alo, ahi, blo, bhi, true, false);
            break;
          case Op.Divu:
            div64(alo, ahi, blo, bhi, false, false);
            break;
          case Op.Rem:
            div64(alo, ahi, blo, bhi, true, true);
            break;
          default:
            div64(alo, ahi, blo, bhi, false, true);
        }
        const rd = (m >>> 8) & 62;
        x[rd] = out[0];
        x[rd + 1] = out[1];
        off += m >>> 26;
        break;
      }
      case Op.Divw:
      case Op.Divuw:
      case Op.Remw:
      case Op.Remuw: {
        const op = m & 0xff;
        div32(x[(m >>> 14) & 62], x[(m >>> 20) & 62], op === Op.Divw || op === Op.Remw, op >= Op.Remw);
        const rd = (m >>> 8) & 62;
        x[rd] = out[0];
        x[rd + 1] = out[1];
        off += m >>> 26;
        break;
      }
      default: {
        // Op.Generic and Op.Cross: the reference executor, with the hart's state written back first.
        h.pcLo = pageLo | off;
        h.pcHi = pcHi;
        h.instretCount = ic0 + n;
        h.trapped = false;
        let inst: number;
        if ((m & 0xff) === Op.Generic) {
          inst = immA[i];
          h.ilen = m >>> 26;
          h.raw16 = (m >>> 9) & 0xffff;
        } else inst = h.fetch();
        if (!h.trapped) h.retire(inst);
        ic0 = h.instretCount - n;
        resv = h.reservation;
        // Stay on the page unless something the page or the data path depend on may have changed.
        if (
          h.trapped ||
          h.fetchStale() ||
          dc.gen !== gen ||
          h.stop !== StopReason.Budget ||
          h.irqCheck ||
          h.pcHi !== pcHi ||
          (h.pcLo & ~0xfff) !== pageLo
        ) {
          base = -1;
          break;
        }
        off = h.pcLo & 0xfff;
        iSet = h.priv === 3 || h.satpMode === 0 ? -1 : (6 + (h.priv & 1)) * TLB_SIZE;
        if (jit && ++heat[base + (off >>> 1)] === jitHot) compileRegion(h, slot, off);
        const dp = h.dataPriv();
        dBare = dp === 3 || h.satpMode === 0;
        dR = dSet(dp, h.mstatus);
        dW = dR + 3 * TLB_SIZE;
        mode = jitMode(dBare, h.mstatus);
      }
    }
  }
  h.instretCount = ic0 + n;
  if (jc !== null && jc.pending.length !== 0) compileQueuedLater(h);
  return h.stop;
}
