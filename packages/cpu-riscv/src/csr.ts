/**
 * Control and status registers: CSRRW/S/C(I), privilege and read-only checks, and the side effects of
 * each register. 64-bit CSRs without side effects live in `hart.csr64` as (lo, hi) pairs.
 */
import * as C from './constants.js';
import type { Hart } from './hart.js';

const TWO32 = 0x1_0000_0000;
/** misa: RV64 (MXL=2) with A C D F I M S U. */
const MISA_LO = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
const MISA_HI = 2 << 30;
/** Interrupts that exist: SSI, MSI, STI, MTI, SEI, MEI. */
const IRQ_MASK = 0xaaa;
const S_IRQ_MASK = 0x222;
/** Exceptions medeleg may delegate (not ECALL from M, which cannot be delegated). */
const MEDELEG_MASK = 0xb3ff;

/** Counter CSRs visible below M when mcounteren/scounteren allow (cycle, time, instret). */
function counterAllowed(h: Hart, csr: number): boolean {
  const bit = 1 << (csr & 31);
  if (h.priv === 3) return true;
  if (!(h.mcounteren & bit)) return false;
  if (h.priv === 0 && !(h.scounteren & bit)) return false;
  return true;
}

const rv = new Int32Array(2);

/** Read a CSR into rv; false when it does not exist or is not accessible. */
function read(h: Hart, csr: number): boolean {
  let lo = 0;
  let hi = 0;
  switch (csr) {
    case C.CSR_FFLAGS:
    case C.CSR_FRM:
    case C.CSR_FCSR:
      if (!(h.mstatus & C.MSTATUS_FS)) return false;
      lo = csr === C.CSR_FFLAGS ? h.fflags : csr === C.CSR_FRM ? h.frm : (h.frm << 5) | h.fflags;
      break;
    case C.CSR_TIME: {
      if (!counterAllowed(h, csr)) return false;
      const v = h.time();
      lo = v >>> 0;
      hi = Math.floor(v / TWO32) | 0;
      break;
    }
    case C.CSR_CYCLE:
    case C.CSR_INSTRET:
    case C.CSR_MCYCLE:
    case C.CSR_MINSTRET: {
      // The user counters read their machine counters, where the counter-enable CSRs allow.
      if ((csr === C.CSR_CYCLE || csr === C.CSR_INSTRET) && !counterAllowed(h, csr)) return false;
      // Retired instructions plus what a write set (csrOff: lo, hi of mcycle, then of minstret).
      const k = csr === C.CSR_CYCLE || csr === C.CSR_MCYCLE ? 0 : 2;
      const c = h.instretCount;
      const clo = c >>> 0;
      const olo = h.counterOff[k] >>> 0;
      const sum = clo + olo;
      lo = sum | 0;
      hi = (Math.floor(c / TWO32) + h.counterOff[k + 1] + (sum > 0xffffffff ? 1 : 0)) | 0;
      break;
    }
    case C.CSR_SSTATUS:
      lo = h.mstatus & C.SSTATUS_MASK;
      hi = 2 | ((lo & C.MSTATUS_FS) === C.MSTATUS_FS ? 0x80000000 : 0); // UXL = 2, SD
      break;
    case C.CSR_MSTATUS:
      lo = h.mstatus;
      hi = 2 | 8 | ((lo & C.MSTATUS_FS) === C.MSTATUS_FS ? 0x80000000 : 0); // UXL = SXL = 2, SD
      break;
    case C.CSR_SIE:
      lo = h.mie & h.mideleg;
      break;
    case C.CSR_SIP:
      lo = h.mip() & h.mideleg;
      break;
    case C.CSR_MIE:
      lo = h.mie;
      break;
    case C.CSR_MIP:
      lo = h.mip();
      break;
    case C.CSR_MISA:
      lo = MISA_LO;
      hi = MISA_HI;
      break;
    case C.CSR_MEDELEG:
      lo = h.medeleg;
      break;
    case C.CSR_MIDELEG:
      lo = h.mideleg;
      break;
    case C.CSR_MCOUNTEREN:
      lo = h.mcounteren;
      break;
    case C.CSR_SCOUNTEREN:
      lo = h.scounteren;
      break;
    case C.CSR_MENVCFG:
      hi = h.menvcfgHi;
      break;
    case C.CSR_SATP:
      if (h.priv === 1 && h.mstatus & C.MSTATUS_TVM) return false;
      lo = (h.satpPpn >>> 0) | 0;
      hi =
        (h.satpMode << 28) |
        (Math.floor(h.satpPpn / TWO32) & 0xfff) |
        ((h.csr64[2 * C.CSR_SATP + 1] & 0xffff) << 12) |
        0;
      break;
    case C.CSR_STIMECMP:
      if (h.priv === 1 && !(h.menvcfgHi & C.MENVCFG_STCE_HI)) return false;
      lo = h.csr64[2 * csr];
      hi = h.csr64[2 * csr + 1];
      break;
    case C.CSR_MHARTID:
      lo = h.hartId;
      break;
    case C.CSR_MVENDORID:
    case C.CSR_MARCHID:
    case C.CSR_MIMPID:
    case C.CSR_MCONFIGPTR:
    case C.CSR_MCOUNTINHIBIT:
      break;
    case C.CSR_STVEC:
    case C.CSR_SSCRATCH:
    case C.CSR_SEPC:
    case C.CSR_SCAUSE:
    case C.CSR_STVAL:
    case C.CSR_SENVCFG:
    case C.CSR_MTVEC:
    case C.CSR_MSCRATCH:
    case C.CSR_MEPC:
    case C.CSR_MCAUSE:
    case C.CSR_MTVAL:
      lo = h.csr64[2 * csr];
      hi = h.csr64[2 * csr + 1];
      break;
    default:
      // PMP (present, not enforced: RAM is open to every mode), hardware performance counters and
      // their events read as zero, as implementations without them may do.
      // pmpcfg1, 3, ... exist only on RV32.
      if (csr >= 0x3a0 && csr <= 0x3af && csr & 1) return false;
      if (
        (csr >= 0x3a0 && csr <= 0x3ef) ||
        (csr >= 0xb03 && csr <= 0xb1f) ||
        (csr >= 0x323 && csr <= 0x33f)
      ) {
        if (csr >= 0x3a0 && csr <= 0x3ef) {
          lo = h.csr64[2 * csr];
          hi = h.csr64[2 * csr + 1];
        }
        break;
      }
      if (csr >= 0xc03 && csr <= 0xc1f) {
        if (!counterAllowed(h, csr)) return false;
        break;
      }
      return false;
  }
  rv[0] = lo;
  rv[1] = hi;
  return true;
}

/** Write a CSR (existence and permission already checked by a successful read). */
function write(h: Hart, csr: number, lo: number, hi: number): void {
  switch (csr) {
    case C.CSR_MCYCLE:
    case C.CSR_MINSTRET: {
      // The written value replaces the count: keep its difference from the instructions retired so
      // far (64-bit, as lo/hi), so that later reads count on from it. The hart's own count, which
      // budgets and the machine's clock use, does not change.
      const k = csr === C.CSR_MCYCLE ? 0 : 2;
      const c = h.instretCount;
      const clo = c >>> 0;
      const dlo = (lo >>> 0) - clo;
      h.counterOff[k] = dlo | 0;
      h.counterOff[k + 1] = (hi - Math.floor(c / TWO32) - (dlo < 0 ? 1 : 0)) | 0;
      return;
    }
    case C.CSR_FFLAGS:
      h.fflags = lo & 0x1f;
      h.mstatus |= C.MSTATUS_FS;
      return;
    case C.CSR_FRM:
      h.frm = lo & 7;
      h.mstatus |= C.MSTATUS_FS;
      return;
    case C.CSR_FCSR:
      h.fflags = lo & 0x1f;
      h.frm = (lo >>> 5) & 7;
      h.mstatus |= C.MSTATUS_FS;
      return;
    case C.CSR_SSTATUS:
      setMstatus(h, (h.mstatus & ~C.SSTATUS_MASK) | (lo & C.SSTATUS_MASK));
      return;
    case C.CSR_MSTATUS: {
      let v = lo & C.MSTATUS_WRITABLE;
      if (((v >>> 11) & 3) === 2) v &= ~C.MSTATUS_MPP; // MPP is WARL: 2 is reserved
      setMstatus(h, v);
      return;
    }
    case C.CSR_SIE:
      h.mie = (h.mie & ~h.mideleg) | (lo & h.mideleg & S_IRQ_MASK);
      h.irqCheck = true;
      return;
    case C.CSR_MIE:
      h.mie = lo & IRQ_MASK;
      h.irqCheck = true;
      return;
    case C.CSR_SIP:
      // Only SSIP is writable through sip.
      h.mipSw = (h.mipSw & ~(h.mideleg & 2)) | (lo & h.mideleg & 2);
      h.irqCheck = true;
      return;
    case C.CSR_MIP:
      h.mipSw = lo & S_IRQ_MASK;
      h.irqCheck = true;
      return;
    case C.CSR_MEDELEG:
      h.medeleg = lo & MEDELEG_MASK;
      return;
    case C.CSR_MIDELEG:
      h.mideleg = lo & S_IRQ_MASK;
      h.irqCheck = true;
      return;
    case C.CSR_MCOUNTEREN:
      h.mcounteren = lo & 7;
      return;
    case C.CSR_SCOUNTEREN:
      h.scounteren = lo & 7;
      return;
    case C.CSR_MENVCFG:
      h.menvcfgHi = hi & C.MENVCFG_STCE_HI;
      h.irqCheck = true;
      return;
    case C.CSR_SATP: {
      const mode = hi >>> 28;
      if (mode !== 0 && mode !== 8 && mode !== 9) return; // unsupported modes leave satp unchanged
      h.satpMode = mode;
      h.satpPpn = (hi & 0xfff) * TWO32 + (lo >>> 0);
      h.csr64[2 * C.CSR_SATP + 1] = (hi >>> 12) & 0xffff; // ASID
      h.flushTlb();
      return;
    }
    case C.CSR_STIMECMP:
      h.csr64[2 * csr] = lo;
      h.csr64[2 * csr + 1] = hi;
      h.stimecmp = hi >>> 0 >= 0x200000 ? Infinity : (hi >>> 0) * TWO32 + (lo >>> 0);
      h.irqCheck = true;
      return;
    case C.CSR_STVEC:
    case C.CSR_MTVEC:
      // Direct (0) or vectored (1); a write selecting a reserved mode is ignored, as QEMU does (WARL).
      if ((lo & 3) >= 2) return;
      h.csr64[2 * csr] = lo;
      h.csr64[2 * csr + 1] = hi;
      return;
    case C.CSR_SEPC:
    case C.CSR_MEPC:
      h.csr64[2 * csr] = lo & ~1;
      h.csr64[2 * csr + 1] = hi;
      return;
    case C.CSR_SSCRATCH:
    case C.CSR_SCAUSE:
    case C.CSR_STVAL:
    case C.CSR_MSCRATCH:
    case C.CSR_MCAUSE:
    case C.CSR_MTVAL:
      h.csr64[2 * csr] = lo;
      h.csr64[2 * csr + 1] = hi;
      return;
    default:
      if (csr >= 0x3a0 && csr <= 0x3ef) {
        h.csr64[2 * csr] = lo;
        h.csr64[2 * csr + 1] = csr >= 0x3b0 ? hi & 0x3fffff : hi;
      }
  }
}

function setMstatus(h: Hart, v: number): void {
  const changed = h.mstatus ^ v;
  h.mstatus = v;
  if (changed & (C.MSTATUS_MXR | C.MSTATUS_MPRV | (3 << 11))) h.flushTlb();
  if (changed & (C.MSTATUS_MIE | C.MSTATUS_SIE)) h.irqCheck = true;
}

/** CSRRW, CSRRS, CSRRC and their immediate forms. */
export function csrAccess(h: Hart, inst: number, rd: number, r1: number, f3: number): void {
  const csr = inst >>> 20;
  const imm = (f3 & 4) !== 0;
  const op = f3 & 3;
  // CSRRS/C with rs1 = x0 (or uimm = 0) only read: no write side effects, allowed on read-only CSRs.
  const writes = op === 1 || r1 !== 0;
  if (((csr >>> 8) & 3) > h.priv || (writes && csr >>> 10 === 3)) return h.illegal(inst);
  if (!read(h, csr)) return h.illegal(inst);
  const olo = rv[0];
  const ohi = rv[1];
  if (writes) {
    // In mip, SEIP reads as the software bit OR the PLIC's signal, but only the software bit takes part
    // in a CSRRS/CSRRC read-modify-write (privileged spec, 3.1.9): otherwise M-mode firmware clearing or
    // setting another bit (OpenSBI's IPI and timer paths) would latch a passing external interrupt into
    // the software bit, and S-mode would take it forever with nothing to claim.
    const base = csr === C.CSR_MIP ? (olo & ~(1 << C.IRQ_SEI)) | (h.mipSw & (1 << C.IRQ_SEI)) : olo;
    const slo = imm ? r1 : h.x[2 * r1];
    const shi = imm ? 0 : h.x[2 * r1 + 1];
    let nlo: number;
    let nhi: number;
    if (op === 1) {
      nlo = slo;
      nhi = shi;
    } else if (op === 2) {
      nlo = base | slo;
      nhi = ohi | shi;
    } else {
      nlo = base & ~slo;
      nhi = ohi & ~shi;
    }
    write(h, csr, nlo, nhi);
  }
  if (rd) {
    h.x[2 * rd] = olo;
    h.x[2 * rd + 1] = ohi;
  }
}
