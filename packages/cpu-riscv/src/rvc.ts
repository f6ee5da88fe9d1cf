/**
 * The C extension (RV64C): each 16-bit instruction is expanded to the 32-bit instruction it stands for.
 * All 65,536 encodings are expanded once into a table, so the hot path does one array load. 0 marks a
 * reserved or illegal encoding (0 is also an illegal 32-bit instruction).
 */

const bits = (v: number, hi: number, lo: number): number => (v >>> lo) & ((1 << (hi - lo + 1)) - 1);
const sext = (v: number, width: number): number => (v << (32 - width)) >> (32 - width);

const iType = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
const sType = (imm: number, rs2: number, rs1: number, f3: number, op: number): number =>
  (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | op;
const rType = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number): number =>
  (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
const bType = (imm: number, rs2: number, rs1: number, f3: number): number =>
  (((imm >> 12) & 1) << 31) |
  (((imm >> 5) & 0x3f) << 25) |
  (rs2 << 20) |
  (rs1 << 15) |
  (f3 << 12) |
  (((imm >> 1) & 0xf) << 8) |
  (((imm >> 11) & 1) << 7) |
  0x63;
const jType = (imm: number, rd: number): number =>
  (((imm >> 20) & 1) << 31) |
  (((imm >> 1) & 0x3ff) << 21) |
  (((imm >> 11) & 1) << 20) |
  (((imm >> 12) & 0xff) << 12) |
  (rd << 7) |
  0x6f;

const OP_IMM = 0x13;
const OP_IMM32 = 0x1b;
const OP = 0x33;
const OP32 = 0x3b;
const LOAD = 0x03;
const STORE = 0x23;
const LOAD_FP = 0x07;
const STORE_FP = 0x27;

/** Expand one 16-bit instruction; 0 when it is reserved or illegal. */
export function expandCompressed(c: number): number {
  const op = c & 3;
  const f3 = bits(c, 15, 13);
  const rdp = bits(c, 4, 2) + 8; // rd' / rs2'
  const rs1p = bits(c, 9, 7) + 8;
  const rd = bits(c, 11, 7);
  const rs2 = bits(c, 6, 2);
  if (op === 0) {
    switch (f3) {
      case 0: {
        const imm =
          (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 3);
        return imm === 0 ? 0 : iType(imm, 2, 0, rdp, OP_IMM);
      }
      case 1:
        return iType((bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6), rs1p, 3, rdp, LOAD_FP);
      case 2:
        return iType(
          (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 6),
          rs1p,
          2,
          rdp,
          LOAD,
        );
      case 3:
        return iType((bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6), rs1p, 3, rdp, LOAD);
      case 5:
        return sType((bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6), rdp, rs1p, 3, STORE_FP);
      case 6:
        return sType(
          (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 6),
          rdp,
          rs1p,
          2,
          STORE,
        );
      case 7:
        return sType((bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6), rdp, rs1p, 3, STORE);
      default:
        return 0;
    }
  }
  if (op === 1) {
    const imm6 = sext((bits(c, 12, 12) << 5) | bits(c, 6, 2), 6);
    switch (f3) {
      case 0:
        return iType(imm6, rd, 0, rd, OP_IMM);
      case 1:
        return rd === 0 ? 0 : iType(imm6, rd, 0, rd, OP_IMM32);
      case 2:
        return iType(imm6, 0, 0, rd, OP_IMM);
      case 3:
        if (rd === 2) {
          const imm = sext(
            (bits(c, 12, 12) << 9) |
              (bits(c, 6, 6) << 4) |
              (bits(c, 5, 5) << 6) |
              (bits(c, 4, 3) << 7) |
              (bits(c, 2, 2) << 5),
            10,
          );
          return imm === 0 ? 0 : iType(imm, 2, 0, 2, OP_IMM);
        } else {
          const imm = sext((bits(c, 12, 12) << 17) | (bits(c, 6, 2) << 12), 18);
          return imm === 0 ? 0 : (imm & 0xfffff000) | (rd << 7) | 0x37;
        }
      case 4: {
        const f2 = bits(c, 11, 10);
        const sh = (bits(c, 12, 12) << 5) | bits(c, 6, 2);
        if (f2 === 0) return iType(sh, rs1p, 5, rs1p, OP_IMM);
        if (f2 === 1) return iType(sh | 0x400, rs1p, 5, rs1p, OP_IMM);
        if (f2 === 2) return iType(imm6, rs1p, 7, rs1p, OP_IMM);
        const f = bits(c, 6, 5);
        if (bits(c, 12, 12) === 0) {
          if (f === 0) return rType(0x20, rdp, rs1p, 0, rs1p, OP);
          if (f === 1) return rType(0, rdp, rs1p, 4, rs1p, OP);
          if (f === 2) return rType(0, rdp, rs1p, 6, rs1p, OP);
          return rType(0, rdp, rs1p, 7, rs1p, OP);
        }
        if (f === 0) return rType(0x20, rdp, rs1p, 0, rs1p, OP32);
        if (f === 1) return rType(0, rdp, rs1p, 0, rs1p, OP32);
        return 0;
      }
      case 5: {
        const imm = sext(
          (bits(c, 12, 12) << 11) |
            (bits(c, 11, 11) << 4) |
            (bits(c, 10, 9) << 8) |
            (bits(c, 8, 8) << 10) |
            (bits(c, 7, 7) << 6) |
            (bits(c, 6, 6) << 7) |
            (bits(c, 5, 3) << 1) |
            (bits(c, 2, 2) << 5),
          12,
        );
        return jType(imm, 0);
      }
      default: {
        const imm = sext(
          (bits(c, 12, 12) << 8) |
            (bits(c, 11, 10) << 3) |
            (bits(c, 6, 5) << 6) |
            (bits(c, 4, 3) << 1) |
            (bits(c, 2, 2) << 5),
          9,
        );
        return bType(imm, 0, rs1p, f3 === 6 ? 0 : 1);
      }
    }
  }
  if (op === 2) {
    switch (f3) {
      case 0:
        return iType((bits(c, 12, 12) << 5) | bits(c, 6, 2), rd, 1, rd, OP_IMM);
      case 1:
        return iType((bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6), 2, 3, rd, LOAD_FP);
      case 2:
        return rd === 0
          ? 0
          : iType((bits(c, 12, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6), 2, 2, rd, LOAD);
      case 3:
        return rd === 0
          ? 0
          : iType((bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6), 2, 3, rd, LOAD);
      case 4:
        if (bits(c, 12, 12) === 0) {
          if (rs2 === 0) return rd === 0 ? 0 : iType(0, rd, 0, 0, 0x67); // c.jr
          return rType(0, rs2, 0, 0, rd, OP); // c.mv
        }
        if (rs2 === 0) return rd === 0 ? 0x00100073 : iType(0, rd, 0, 1, 0x67); // c.ebreak / c.jalr
        return rType(0, rs2, rd, 0, rd, OP); // c.add
      case 5:
        return sType((bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6), rs2, 2, 3, STORE_FP);
      case 6:
        return sType((bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6), rs2, 2, 2, STORE);
      default:
        return sType((bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6), rs2, 2, 3, STORE);
    }
  }
  return 0;
}

/** Expansion of every 16-bit encoding. */
export const RVC_TABLE: Int32Array = (() => {
  const t = new Int32Array(65536);
  for (let c = 0; c < 65536; c++) if ((c & 3) !== 3) t[c] = expandCompressed(c);
  return t;
})();
