/**
 * The CPU's decoder and executor for RV64IMA + Zicsr + Zifencei + privileged instructions (F and D are in
 * fp.ts). One function, a switch on the major opcode, operating on the hart's (lo, hi) register pairs.
 * Every encoding not listed traps as an illegal instruction.
 */
import { div32, div64, mul64, mulh64, mulhsu64, mulhu64, out } from './alu64.js';
import * as C from './constants.js';
import { csrAccess } from './csr.js';
import { executeFp } from './fp.js';
import { Access, StopReason } from './constants.js';
import type { Hart } from './hart.js';

/** Unsigned less-than on pairs. */
const ltu = (alo: number, ahi: number, blo: number, bhi: number): boolean =>
  ahi >>> 0 < bhi >>> 0 || (ahi === bhi && alo >>> 0 < blo >>> 0);
const lts = (alo: number, ahi: number, blo: number, bhi: number): boolean =>
  ahi < bhi || (ahi === bhi && alo >>> 0 < blo >>> 0);

export function execute(h: Hart, inst: number): void {
  const x = h.x;
  // Default next pc: pc + instruction length.
  const plo = h.pcLo;
  const phi = h.pcHi;
  let nlo = (plo + h.ilen) | 0;
  h.nextLo = nlo;
  h.nextHi = nlo >>> 0 < plo >>> 0 ? (phi + 1) | 0 : phi;
  const rd = (inst >>> 7) & 31;
  const r1 = (inst >>> 15) & 31;
  const r2 = (inst >>> 20) & 31;
  const f3 = (inst >>> 12) & 7;
  switch (inst & 0x7f) {
    case 0x37: // LUI
      if (rd) {
        x[2 * rd] = inst & 0xfffff000;
        x[2 * rd + 1] = inst >> 31;
      }
      return;
    case 0x17: {
      // AUIPC
      const imm = inst & 0xfffff000;
      const lo = (plo + imm) | 0;
      const carry = (plo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0;
      if (rd) {
        x[2 * rd] = lo;
        x[2 * rd + 1] = (phi + (imm >> 31) + carry) | 0;
      }
      return;
    }
    case 0x6f: {
      // JAL
      const imm =
        ((inst >> 31) << 20) |
        (((inst >>> 12) & 0xff) << 12) |
        (((inst >>> 20) & 1) << 11) |
        (((inst >>> 21) & 0x3ff) << 1);
      if (rd) {
        x[2 * rd] = h.nextLo;
        x[2 * rd + 1] = h.nextHi;
      }
      nlo = (plo + imm) | 0;
      h.nextLo = nlo;
      h.nextHi = (phi + (imm >> 31) + ((plo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      return;
    }
    case 0x67: {
      // JALR
      if (f3 !== 0) return h.illegal(inst);
      const imm = inst >> 20;
      const alo = x[2 * r1];
      const ahi = x[2 * r1 + 1];
      const tlo = ((alo + imm) | 0) & ~1;
      const thi = (ahi + (imm >> 31) + ((alo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      if (rd) {
        x[2 * rd] = h.nextLo;
        x[2 * rd + 1] = h.nextHi;
      }
      h.nextLo = tlo;
      h.nextHi = thi;
      return;
    }
    case 0x63: {
      // BRANCH
      const alo = x[2 * r1];
      const ahi = x[2 * r1 + 1];
      const blo = x[2 * r2];
      const bhi = x[2 * r2 + 1];
      let take: boolean;
      switch (f3) {
        case 0:
          take = alo === blo && ahi === bhi;
          break;
        case 1:
          take = alo !== blo || ahi !== bhi;
          break;
        case 4:
          take = lts(alo, ahi, blo, bhi);
          break;
        case 5:
          take = !lts(alo, ahi, blo, bhi);
          break;
        case 6:
          take = ltu(alo, ahi, blo, bhi);
          break;
        case 7:
          take = !ltu(alo, ahi, blo, bhi);
          break;
        default:
          return h.illegal(inst);
      }
      if (take) {
        const imm =
          ((inst >> 31) << 12) |
          (((inst >>> 7) & 1) << 11) |
          (((inst >>> 25) & 0x3f) << 5) |
          (((inst >>> 8) & 0xf) << 1);
        h.nextLo = (plo + imm) | 0;
        h.nextHi = (phi + (imm >> 31) + ((plo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      }
      return;
    }
    case 0x03: {
      // LOAD
      const imm = inst >> 20;
      const alo = x[2 * r1];
      const ahi = x[2 * r1 + 1];
      const lo = (alo + imm) | 0;
      const hi = (ahi + (imm >> 31) + ((alo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      const size = 1 << (f3 & 3);
      if (f3 === 7) return h.illegal(inst);
      if (!h.load(lo, hi, size)) return;
      let vlo = h.tmp[0];
      let vhi = h.tmp[1];
      switch (f3) {
        case 0:
          vlo = (vlo << 24) >> 24;
          vhi = vlo >> 31;
          break;
        case 1:
          vlo = (vlo << 16) >> 16;
          vhi = vlo >> 31;
          break;
        case 2:
          vhi = vlo >> 31;
          break;
        case 4:
        case 5:
        case 6:
          vhi = 0;
          break;
      }
      if (rd) {
        x[2 * rd] = vlo;
        x[2 * rd + 1] = vhi;
      }
      return;
    }
    case 0x23: {
      // STORE
      if (f3 > 3) return h.illegal(inst);
      const imm = ((inst >> 25) << 5) | ((inst >>> 7) & 31);
      const alo = x[2 * r1];
      const ahi = x[2 * r1 + 1];
      const lo = (alo + imm) | 0;
      const hi = (ahi + (imm >> 31) + ((alo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      h.store(lo, hi, 1 << f3, x[2 * r2], x[2 * r2 + 1]);
      return;
    }
    case 0x13:
      return opImm(h, inst, rd, r1, f3);
    case 0x1b:
      return opImm32(h, inst, rd, r1, f3);
    case 0x33:
      return op(h, inst, rd, r1, r2, f3);
    case 0x3b:
      return op32(h, inst, rd, r1, r2, f3);
    case 0x0f:
      // FENCE is a no-op for harts that run one at a time, and a full host barrier for harts on other
      // threads (the host may run a later load before an earlier store: x86's store buffer, ARM);
      // FENCE.I drops the decoded-instruction cache.
      if (f3 > 1) return h.illegal(inst);
      if (f3 === 1) h.flushICache();
      else if (h.shared) h.fence();
      return;
    case 0x73:
      return system(h, inst, rd, r1, f3);
    case 0x2f:
      return amo(h, inst, rd, r1, r2, f3);
    case 0x07:
    case 0x27:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
    case 0x53:
      return executeFp(h, inst);
    default:
      return h.illegal(inst);
  }
}

function set(h: Hart, rd: number, lo: number, hi: number): void {
  if (rd) {
    h.x[2 * rd] = lo;
    h.x[2 * rd + 1] = hi;
  }
}

function shl(lo: number, hi: number, s: number, rd: number, h: Hart): void {
  if (s === 0) set(h, rd, lo, hi);
  else if (s < 32) set(h, rd, lo << s, (hi << s) | (lo >>> (32 - s)));
  else set(h, rd, 0, lo << (s - 32));
}

function shr(lo: number, hi: number, s: number, arith: boolean, rd: number, h: Hart): void {
  if (s === 0) set(h, rd, lo, hi);
  else if (s < 32) set(h, rd, (lo >>> s) | (hi << (32 - s)), arith ? hi >> s : hi >>> s);
  else set(h, rd, arith ? hi >> (s - 32) : hi >>> (s - 32), arith ? hi >> 31 : 0);
}

function opImm(h: Hart, inst: number, rd: number, r1: number, f3: number): void {
  const x = h.x;
  const alo = x[2 * r1];
  const ahi = x[2 * r1 + 1];
  const imm = inst >> 20;
  const ihi = imm >> 31;
  switch (f3) {
    case 0: {
      const lo = (alo + imm) | 0;
      set(h, rd, lo, (ahi + ihi + ((alo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0);
      return;
    }
    case 1:
      if (inst >>> 26 !== 0) return h.illegal(inst);
      return shl(alo, ahi, (inst >>> 20) & 63, rd, h);
    case 2:
      return set(h, rd, lts(alo, ahi, imm, ihi) ? 1 : 0, 0);
    case 3:
      return set(h, rd, ltu(alo, ahi, imm, ihi) ? 1 : 0, 0);
    case 4:
      return set(h, rd, alo ^ imm, ahi ^ ihi);
    case 5: {
      const top = inst >>> 26;
      if (top !== 0 && top !== 0x10) return h.illegal(inst);
      return shr(alo, ahi, (inst >>> 20) & 63, top === 0x10, rd, h);
    }
    case 6:
      return set(h, rd, alo | imm, ahi | ihi);
    default:
      return set(h, rd, alo & imm, ahi & ihi);
  }
}

function opImm32(h: Hart, inst: number, rd: number, r1: number, f3: number): void {
  const a = h.x[2 * r1];
  let r: number;
  switch (f3) {
    case 0:
      r = (a + (inst >> 20)) | 0;
      break;
    case 1:
      if (inst >>> 25 !== 0) return h.illegal(inst);
      r = a << ((inst >>> 20) & 31);
      break;
    case 5: {
      const top = inst >>> 25;
      if (top === 0) r = a >>> ((inst >>> 20) & 31);
      else if (top === 0x20) r = a >> ((inst >>> 20) & 31);
      else return h.illegal(inst);
      break;
    }
    default:
      return h.illegal(inst);
  }
  set(h, rd, r | 0, r >> 31);
}

function op(h: Hart, inst: number, rd: number, r1: number, r2: number, f3: number): void {
  const x = h.x;
  const alo = x[2 * r1];
  const ahi = x[2 * r1 + 1];
  const blo = x[2 * r2];
  const bhi = x[2 * r2 + 1];
  const f7 = inst >>> 25;
  if (f7 === 0) {
    switch (f3) {
      case 0: {
        const lo = (alo + blo) | 0;
        return set(h, rd, lo, (ahi + bhi + ((alo >>> 0) + (blo >>> 0) > 0xffffffff ? 1 : 0)) | 0);
      }
      case 1:
        return shl(alo, ahi, blo & 63, rd, h);
      case 2:
        return set(h, rd, lts(alo, ahi, blo, bhi) ? 1 : 0, 0);
      case 3:
        return set(h, rd, ltu(alo, ahi, blo, bhi) ? 1 : 0, 0);
      case 4:
        return set(h, rd, alo ^ blo, ahi ^ bhi);
      case 5:
        return shr(alo, ahi, blo & 63, false, rd, h);
      case 6:
        return set(h, rd, alo | blo, ahi | bhi);
      default:
        return set(h, rd, alo & blo, ahi & bhi);
    }
  }
  if (f7 === 0x20) {
    if (f3 === 0) {
      const lo = (alo - blo) | 0;
      return set(h, rd, lo, (ahi - bhi - (alo >>> 0 < blo >>> 0 ? 1 : 0)) | 0);
    }
    if (f3 === 5) return shr(alo, ahi, blo & 63, true, rd, h);
    return h.illegal(inst);
  }
  if (f7 === 1) {
    switch (f3) {
      case 0:
        mul64(alo, ahi, blo, bhi);
        break;
      case 1:
        mulh64(alo, ahi, blo, bhi);
        break;
      case 2:
        mulhsu64(alo, ahi, blo, bhi);
        break;
      case 3:
        mulhu64(alo, ahi, blo, bhi);
        break;
      case 4:
        div64(alo, ahi, blo, bhi, true, false);
        break;
      case 5:
        div64(alo, ahi, blo, bhi, false, false);
        break;
      case 6:
        div64(alo, ahi, blo, bhi, true, true);
        break;
      default:
        div64(alo, ahi, blo, bhi, false, true);
    }
    return set(h, rd, out[0], out[1]);
  }
  h.illegal(inst);
}

function op32(h: Hart, inst: number, rd: number, r1: number, r2: number, f3: number): void {
  const a = h.x[2 * r1];
  const b = h.x[2 * r2];
  const f7 = inst >>> 25;
  let r: number;
  if (f7 === 0) {
    if (f3 === 0) r = (a + b) | 0;
    else if (f3 === 1) r = a << (b & 31);
    else if (f3 === 5) r = a >>> (b & 31);
    else return h.illegal(inst);
  } else if (f7 === 0x20) {
    if (f3 === 0) r = (a - b) | 0;
    else if (f3 === 5) r = a >> (b & 31);
    else return h.illegal(inst);
  } else if (f7 === 1) {
    if (f3 === 0) r = Math.imul(a, b);
    else if (f3 >= 4) {
      div32(a, b, (f3 & 1) === 0, f3 >= 6);
      return set(h, rd, out[0], out[1]);
    } else return h.illegal(inst);
  } else return h.illegal(inst);
  set(h, rd, r | 0, r >> 31);
}

function system(h: Hart, inst: number, rd: number, r1: number, f3: number): void {
  if (f3 === 0) {
    switch (inst) {
      case 0x00000073: // ECALL
        if (h.priv === 1 && h.hostSbi) {
          h.stop = StopReason.Sbi;
          return;
        }
        h.trap(h.priv === 3 ? C.EXC_ECALL_M : h.priv === 1 ? C.EXC_ECALL_S : C.EXC_ECALL_U, false, 0, 0);
        return;
      case 0x00100073: // EBREAK
        h.trap(C.EXC_BREAKPOINT, false, 0, 0); // tval 0, as QEMU (the spec allows pc or 0)
        return;
      case 0x10200073: // SRET
        if (h.priv === 0 || (h.priv === 1 && h.mstatus & C.MSTATUS_TSR)) return h.illegal(inst);
        return sret(h);
      case 0x30200073: // MRET
        if (h.priv !== 3) return h.illegal(inst);
        return mret(h);
      case 0x10500073: // WFI
        if (h.priv === 0 || (h.priv === 1 && h.mstatus & C.MSTATUS_TW)) return h.illegal(inst);
        if ((h.mip() & h.mie) === 0) h.stop = StopReason.Wfi;
        return;
    }
    if (inst >>> 25 === 0x09 && rd === 0) {
      // SFENCE.VMA: everything, or one virtual address (rs1 != 0; ASIDs are not kept apart).
      if (h.priv === 0 || (h.priv === 1 && h.mstatus & C.MSTATUS_TVM)) return h.illegal(inst);
      const r1 = (inst >>> 15) & 31;
      if (r1 === 0) h.flushTlb();
      else h.flushTlbPage(h.x[2 * r1], h.x[2 * r1 + 1]);
      return;
    }
    return h.illegal(inst);
  }
  if (f3 === 4) return h.illegal(inst);
  csrAccess(h, inst, rd, r1, f3);
}

function sret(h: Hart): void {
  const s = h.mstatus;
  const spp = (s & C.MSTATUS_SPP) !== 0 ? 1 : 0;
  let n = s & C.MSTATUS_SPIE ? s | C.MSTATUS_SIE : s & ~C.MSTATUS_SIE;
  n = (n | C.MSTATUS_SPIE) & ~C.MSTATUS_SPP;
  n &= ~C.MSTATUS_MPRV; // SRET always leaves M-mode
  h.mstatus = n;
  h.priv = spp;
  h.nextLo = h.csr64[2 * C.CSR_SEPC];
  h.nextHi = h.csr64[2 * C.CSR_SEPC + 1];
  h.privChanged();
}

function mret(h: Hart): void {
  const s = h.mstatus;
  const mpp = (s >>> 11) & 3;
  let n = s & C.MSTATUS_MPIE ? s | C.MSTATUS_MIE : s & ~C.MSTATUS_MIE;
  n = (n | C.MSTATUS_MPIE) & ~C.MSTATUS_MPP;
  if (mpp !== 3) n &= ~C.MSTATUS_MPRV;
  h.mstatus = n;
  h.priv = mpp === 2 ? 0 : mpp;
  h.nextLo = h.csr64[2 * C.CSR_MEPC];
  h.nextHi = h.csr64[2 * C.CSR_MEPC + 1];
  h.privChanged();
}

function amo(h: Hart, inst: number, rd: number, r1: number, r2: number, f3: number): void {
  if (f3 !== 2 && f3 !== 3) return h.illegal(inst);
  const x = h.x;
  const size = f3 === 2 ? 4 : 8;
  const lo = x[2 * r1];
  const hi = x[2 * r1 + 1];
  const f5 = inst >>> 27;
  // An undefined funct5 is illegal before any address is looked at.
  if (
    (f5 > 3 && f5 !== 4 && f5 !== 8 && f5 !== 12 && f5 !== 16 && f5 !== 20 && f5 !== 24 && f5 !== 28) ||
    (f5 === 2 && r2 !== 0)
  )
    return h.illegal(inst);
  if (lo & (size - 1)) {
    h.trap(f5 === 2 ? C.EXC_LOAD_MISALIGNED : C.EXC_STORE_MISALIGNED, false, lo, hi);
    return;
  }
  if (f5 === 2) {
    // LR
    if (r2 !== 0) return h.illegal(inst);
    const pa = h.translate(lo, hi, Access.Read);
    if (pa < 0) return;
    if (h.shared && pa >= h.ramBase && pa + size <= h.ramBase + h.ramSize) return lrShared(h, rd, pa, size);
    if (!h.load(lo, hi, size)) return;
    h.reservation = pa;
    const t = h.tmp;
    set(h, rd, t[0], size === 4 ? t[0] >> 31 : t[1]);
    return;
  }
  // SC and AMOs need write permission; they fault as stores.
  const pa = h.translate(lo, hi, Access.Write);
  if (pa < 0) return;
  // Only RAM supports atomics: elsewhere they raise a store/AMO access fault (QEMU 7.2 reports a load
  // access fault for the AMOs, contrary to the privileged spec).
  if (pa < h.ramBase || pa + size > h.ramBase + h.ramSize) {
    h.trap(C.EXC_STORE_ACCESS, false, lo, hi);
    return;
  }
  if (h.shared) return amoShared(h, inst, f5, rd, r2, size, pa);
  if (f5 === 3) {
    const ok = h.reservation === pa;
    h.reservation = -1;
    if (ok && !h.store(lo, hi, size, x[2 * r2], x[2 * r2 + 1])) return;
    set(h, rd, ok ? 0 : 1, 0);
    return;
  }
  if (!h.load(lo, hi, size)) return;
  const olo = h.tmp[0];
  let ohi = size === 4 ? olo >> 31 : h.tmp[1];
  const blo = x[2 * r2];
  const bhi = size === 4 ? blo >> 31 : x[2 * r2 + 1];
  let nlo: number;
  let nhi: number;
  switch (f5) {
    case 0x01:
      nlo = blo;
      nhi = bhi;
      break;
    case 0x00: {
      nlo = (olo + blo) | 0;
      nhi = (ohi + bhi + ((olo >>> 0) + (blo >>> 0) > 0xffffffff ? 1 : 0)) | 0;
      break;
    }
    case 0x04:
      nlo = olo ^ blo;
      nhi = ohi ^ bhi;
      break;
    case 0x0c:
      nlo = olo & blo;
      nhi = ohi & bhi;
      break;
    case 0x08:
      nlo = olo | blo;
      nhi = ohi | bhi;
      break;
    case 0x10:
    case 0x14:
    case 0x18:
    case 0x1c: {
      const less = f5 < 0x18 ? lts(olo, ohi, blo, bhi) : ltu(olo, ohi, blo, bhi);
      const takeOld = f5 === 0x10 || f5 === 0x18 ? less : !less;
      nlo = takeOld ? olo : blo;
      nhi = takeOld ? ohi : bhi;
      break;
    }
    default:
      return h.illegal(inst);
  }
  if (!h.store(lo, hi, size, nlo, nhi)) return;
  if (size === 4) ohi = olo >> 31;
  set(h, rd, olo, ohi);
}

const big = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));

/** LR on RAM shared with other threads: one atomic load, and the value kept for SC's compare-exchange. */
function lrShared(h: Hart, rd: number, pa: number, size: number): void {
  const off = pa - h.ramBase;
  let vlo: number;
  let vhi: number;
  if (size === 4) {
    vlo = Atomics.load(h.mem32, off >> 2);
    vhi = vlo >> 31;
  } else {
    const v = Atomics.load(h.mem64!, off >> 3);
    vlo = lo32(v);
    vhi = hi32(v);
  }
  h.reservation = pa;
  h.resvLo = vlo;
  h.resvHi = vhi;
  set(h, rd, vlo, vhi);
}

/**
 * SC and the AMOs on RAM shared with harts on other threads (translation and permission checks done):
 * each AMO is one Atomics read-modify-write (min/max: a compare-exchange loop) and SC succeeds only if
 * the word still holds what LR loaded, by compare-exchange. That SC is weaker than a reservation in one
 * way: another hart storing the same value back between LR and SC (ABA) goes unnoticed. Sequences built
 * on LR/SC (compare-and-swap, atomic arithmetic, Linux's cmpxchg and its lock paths) compute from the
 * value they read, so they stay correct: the SC's effect is that of a sequence in which the other stores
 * came before the LR.
 */
function amoShared(
  h: Hart,
  inst: number,
  f5: number,
  rd: number,
  r2: number,
  size: number,
  pa: number,
): void {
  const x = h.x;
  const off = pa - h.ramBase;
  if (f5 === 3) {
    let ok = h.reservation === pa;
    h.reservation = -1;
    if (ok) {
      if (size === 4) ok = Atomics.compareExchange(h.mem32, off >> 2, h.resvLo, x[2 * r2]) === h.resvLo;
      else {
        const want = big(h.resvLo, h.resvHi);
        ok = Atomics.compareExchange(h.mem64!, off >> 3, want, big(x[2 * r2], x[2 * r2 + 1])) === want;
      }
      if (ok && h.dcache.pageSlot[off >>> 12] >= 0) h.dcache.written(off, size);
    }
    set(h, rd, ok ? 0 : 1, 0);
    return;
  }
  let olo: number;
  let ohi: number;
  if (size === 4) {
    const m = h.mem32;
    const i = off >> 2;
    const b = x[2 * r2];
    let old: number;
    switch (f5) {
      case 0x01:
        old = Atomics.exchange(m, i, b);
        break;
      case 0x00:
        old = Atomics.add(m, i, b);
        break;
      case 0x04:
        old = Atomics.xor(m, i, b);
        break;
      case 0x0c:
        old = Atomics.and(m, i, b);
        break;
      case 0x08:
        old = Atomics.or(m, i, b);
        break;
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        for (;;) {
          old = Atomics.load(m, i);
          const less = f5 < 0x18 ? old < b : old >>> 0 < b >>> 0;
          const n = (f5 === 0x10 || f5 === 0x18 ? less : !less) ? old : b;
          if (Atomics.compareExchange(m, i, old, n) === old) break;
        }
        break;
      default:
        return h.illegal(inst);
    }
    olo = old;
    ohi = old >> 31;
  } else {
    const m = h.mem64!;
    const i = off >> 3;
    const b = big(x[2 * r2], x[2 * r2 + 1]);
    let old: bigint;
    switch (f5) {
      case 0x01:
        old = Atomics.exchange(m, i, b);
        break;
      case 0x00:
        old = Atomics.add(m, i, b);
        break;
      case 0x04:
        old = Atomics.xor(m, i, b);
        break;
      case 0x0c:
        old = Atomics.and(m, i, b);
        break;
      case 0x08:
        old = Atomics.or(m, i, b);
        break;
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        for (;;) {
          old = Atomics.load(m, i);
          const less = f5 < 0x18 ? old < b : BigInt.asUintN(64, old) < BigInt.asUintN(64, b);
          const n = (f5 === 0x10 || f5 === 0x18 ? less : !less) ? old : b;
          if (Atomics.compareExchange(m, i, old, n) === old) break;
        }
        break;
      default:
        return h.illegal(inst);
    }
    olo = lo32(old);
    ohi = hi32(old);
  }
  if (h.reservation >= 0 && Math.abs(pa - h.reservation) < 8) h.reservation = -1;
  if (h.dcache.pageSlot[off >>> 12] >= 0) h.dcache.written(off, size);
  set(h, rd, olo, ohi);
}
