/**
 * The decoder of the fast engines: turns an instruction (a 32-bit one, or a 16-bit one expanded through
 * rvc.ts) into one entry of the decoded-instruction cache (decode-cache.ts) — a handler index, register
 * numbers, the length and the immediate — once per instruction, not once per execution. interp.ts runs
 * the entries and jit.ts compiles them; instructions without a handler of their own are Generic entries
 * that hold the whole instruction for execute.ts, which stays the definition of every semantics.
 */
import type { DecodeCache } from './decode-cache.js';
import { RVC_TABLE } from './rvc.js';

/** Handler indexes (the low 8 bits of a decoded entry's meta word). */
export const enum Op {
  Undecoded = 0,
  /** The sentinel after a page's last position: equals decode-cache.ts's OP_NEXT_PAGE. */
  NextPage = 1,
  /** Executed by execute.ts: imm holds the (expanded) instruction, meta bits 8..23 the 16-bit original. */
  Generic,
  /** A 32-bit instruction straddling two pages: fetched and executed the slow way every time. */
  Cross,
  Nop,
  Lui, Auipc, Jal, J, Jalr, Jr,
  Beq, Bne, Blt, Bge, Bltu, Bgeu,
  Lb, Lh, Lw, Ld, Lbu, Lhu, Lwu,
  Sb, Sh, Sw, Sd,
  Li, Mv, Addi, Slti, Sltiu, Xori, Ori, Andi,
  SlliLo, SlliHi, SrliLo, SrliHi, SraiLo, SraiHi,
  Add, Sub, Sll, Srl, Sra, Slt, Sltu, Xor, Or, And, // Slt..And in the order of Slti..Andi
  Addiw, Slliw, Srliw, Sraiw, Addw, Subw, Sllw, Srlw, Sraw,
  Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem, Remu,
  Mulw, Divw, Divuw, Remw, Remuw,
} // prettier-ignore

/*
 * meta = op | rd << 9 | rs1 << 15 | rs2 << 21 | ilen << 26, so that (meta >>> 8) & 62 is 2·rd, the index of
 * rd's low word in hart.x, (meta >>> 14) & 62 is 2·rs1, (meta >>> 20) & 62 is 2·rs2 and meta >>> 26 the
 * length in bytes. A Generic entry keeps the 16-bit original of a compressed instruction in bits 9..24.
 * Bit 8 is decode-cache.ts's JIT_ENTRY.
 */
export const entry = (op: Op, rd: number, r1: number, r2: number, ilen: number): number =>
  op | (rd << 9) | (r1 << 15) | (r2 << 21) | (ilen << 26);

const BRANCH_OPS = [Op.Beq, Op.Bne, Op.Generic, Op.Generic, Op.Blt, Op.Bge, Op.Bltu, Op.Bgeu];
const OP_IMM_OPS = [Op.Addi, Op.SlliLo, Op.Slti, Op.Sltiu, Op.Xori, Op.SrliLo, Op.Ori, Op.Andi];
const OP_OPS = [Op.Add, Op.Sll, Op.Slt, Op.Sltu, Op.Xor, Op.Srl, Op.Or, Op.And];

/** The immediate of the last decode() (a module variable, so decode allocates nothing). */
let dImm = 0;

/** Decode the 32-bit (or expanded 16-bit) instruction `inst` into a meta word; the immediate into dImm. */
export function decode(inst: number, ilen: number, raw16: number): number {
  const rd = (inst >>> 7) & 31;
  const r1 = (inst >>> 15) & 31;
  const r2 = (inst >>> 20) & 31;
  const f3 = (inst >>> 12) & 7;
  const f7 = inst >>> 25;
  const generic = Op.Generic | (raw16 << 9) | (ilen << 26);
  dImm = inst;
  let op: Op;
  switch (inst & 0x7f) {
    case 0x37: // LUI
    case 0x17: // AUIPC
      dImm = inst & 0xfffff000;
      op = (inst & 0x7f) === 0x37 ? Op.Lui : Op.Auipc;
      break;
    case 0x6f: // JAL
      dImm =
        ((inst >> 31) << 20) |
        (((inst >>> 12) & 0xff) << 12) |
        (((inst >>> 20) & 1) << 11) |
        (((inst >>> 21) & 0x3ff) << 1);
      return entry(rd ? Op.Jal : Op.J, rd, r1, r2, ilen);
    case 0x67: // JALR
      if (f3 !== 0) return generic;
      dImm = inst >> 20;
      return entry(rd ? Op.Jalr : Op.Jr, rd, r1, r2, ilen);
    case 0x63: {
      // BRANCH
      if (BRANCH_OPS[f3] === Op.Generic) return generic;
      dImm =
        ((inst >> 31) << 12) |
        (((inst >>> 7) & 1) << 11) |
        (((inst >>> 25) & 0x3f) << 5) |
        (((inst >>> 8) & 0xf) << 1);
      return entry(BRANCH_OPS[f3], rd, r1, r2, ilen);
    }
    case 0x03: // LOAD (to x0: rare, and it must still fault, so the reference path takes it)
      if (f3 === 7 || rd === 0) return generic;
      dImm = inst >> 20;
      return entry(Op.Lb + f3, rd, r1, r2, ilen);
    case 0x23: // STORE
      if (f3 > 3) return generic;
      dImm = ((inst >> 25) << 5) | ((inst >>> 7) & 31);
      return entry(Op.Sb + f3, rd, r1, r2, ilen);
    case 0x0f: // FENCE orders nothing for harts that run one at a time; FENCE.I flushes (execute.ts)
      return f3 === 0 ? entry(Op.Nop, 0, 0, 0, ilen) : generic;
    case 0x13: {
      // OP-IMM
      dImm = inst >> 20;
      const sh = (inst >>> 20) & 63;
      if (f3 === 0) op = r1 === 0 ? Op.Li : dImm === 0 ? Op.Mv : Op.Addi;
      else if (f3 === 1) {
        if (inst >>> 26 !== 0) return generic;
        op = sh === 0 ? Op.Mv : sh < 32 ? Op.SlliLo : Op.SlliHi;
        dImm = sh;
      } else if (f3 === 5) {
        const top = inst >>> 26;
        if (top !== 0 && top !== 0x10) return generic;
        if (sh === 0) op = Op.Mv;
        else if (top === 0) op = sh < 32 ? Op.SrliLo : Op.SrliHi;
        else op = sh < 32 ? Op.SraiLo : Op.SraiHi;
        dImm = sh;
      } else op = OP_IMM_OPS[f3];
      break;
    }
    case 0x1b: // OP-IMM-32
      if (f3 === 0) {
        op = Op.Addiw;
        dImm = inst >> 20;
      } else if (f3 === 1 && f7 === 0) op = Op.Slliw;
      else if (f3 === 5 && f7 === 0) op = Op.Srliw;
      else if (f3 === 5 && f7 === 0x20) op = Op.Sraiw;
      else return generic;
      if (f3 !== 0) dImm = r2;
      break;
    case 0x33: // OP
      if (f7 === 0) op = OP_OPS[f3];
      else if (f7 === 1) op = Op.Mul + f3;
      else if (f7 === 0x20 && (f3 === 0 || f3 === 5)) op = f3 === 0 ? Op.Sub : Op.Sra;
      else return generic;
      break;
    case 0x3b: // OP-32
      if (f7 === 0 && (f3 === 0 || f3 === 1 || f3 === 5))
        op = f3 === 0 ? Op.Addw : f3 === 1 ? Op.Sllw : Op.Srlw;
      else if (f7 === 0x20 && (f3 === 0 || f3 === 5)) op = f3 === 0 ? Op.Subw : Op.Sraw;
      else if (f7 === 1 && (f3 === 0 || f3 >= 4)) op = f3 === 0 ? Op.Mulw : Op.Divw + f3 - 4;
      else return generic;
      break;
    default:
      return generic;
  }
  // Results written to x0 are dropped: the whole instruction is then a no-op (these cannot fault).
  return entry(rd === 0 ? Op.Nop : op, rd, r1, r2, ilen);
}

/** Decode the instruction at RAM offset `ro` (page offset `po`) into entry `i` of the cache. */
export function fill(
  dc: DecodeCache,
  slot: number,
  i: number,
  mem16: Uint16Array,
  ro: number,
  po: number,
): number {
  const low = mem16[ro >>> 1];
  let m: number;
  if ((low & 3) !== 3) {
    const inst = RVC_TABLE[low];
    m = decode(inst, 2, low);
    // A generic entry holds the whole instruction, whatever immediate decode() had extracted.
    if ((m & 0xff) === Op.Generic) dImm = inst;
  } else if (po === 0xffe) {
    m = Op.Cross | (4 << 26);
    dImm = 0;
  } else {
    const inst = low | (mem16[(ro >>> 1) + 1] << 16);
    m = decode(inst, 4, 0);
    if (dc.ordered && (inst & 0x707f) === 0x0f) m = Op.Generic | (4 << 26); // FENCE: a host barrier
    if ((m & 0xff) === Op.Generic) dImm = inst;
  }
  dc.meta[i] = m;
  dc.imm[i] = dImm;
  // Stores into these bytes must drop this entry: mark the chunks it covers (and keep their bytes for
  // the check after a FENCE.I).
  const bits = (1 << (po >>> 7)) | (1 << ((po + (m >>> 26) - 1) >>> 7));
  const fresh = bits & ~dc.codeMask[slot];
  if (fresh) {
    dc.codeMask[slot] |= bits;
    dc.snap(slot, fresh);
  }
  return m;
}
