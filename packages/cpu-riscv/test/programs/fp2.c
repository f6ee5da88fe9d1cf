/* F and D beyond fp.c: every static rounding mode in the instruction (and dyn with frm), all four FMA forms
   in both precisions, results around the underflow and overflow thresholds (tininess after rounding), the
   integer conversions at their saturation edges, NaN-boxing, signalling vs quiet NaNs in compares and
   min/max, reserved rounding modes and formats (illegal instruction), the fcsr CSRs, and mstatus.FS. */
#include "lib.h"

static u64 h;
static volatile int traps;

/* An illegal instruction is reported and skipped. */
u64 trap_handler(void) {
  u64 cause = csr_read(mcause), epc = csr_read(mepc);
  traps++;
  puts_("trap "), puthex(cause), putc_(' '), puthex(csr_read(mtval)), putc_('\n');
  csr_write(mepc, epc + (((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2));
  return 0;
}

static void out(u64 v) {
  u64 fl = csr_read(fflags);
  csr_write(fflags, 0);
  h = (h ^ v ^ (fl << 56)) * 0x100000001b3UL;
  puthex(v);
  putc_(':');
  putc_("0123456789abcdefghijklmnopqrstuv"[fl & 31]);
  putc_(' ');
}

#define EACH_RM(X) X("rne") X("rtz") X("rdn") X("rup") X("rmm") X("dyn")

#define D2(op, rm, a, b) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n " op " f3, f1, f2, " rm "\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2", "f3"); __r; })
#define S2(op, rm, a, b) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n fmv.w.x f2, %2\n " op " f3, f1, f2, " rm "\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2", "f3"); __r; })
#define D3(op, rm, a, b, c) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n fmv.d.x f4, %3\n " op " f3, f1, f2, f4, " rm "\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a), "r"(b), "r"(c) : "f1", "f2", "f3", "f4"); __r; })
#define S3(op, rm, a, b, c) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n fmv.w.x f2, %2\n fmv.w.x f4, %3\n " op " f3, f1, f2, f4, " rm "\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a), "r"(b), "r"(c) : "f1", "f2", "f3", "f4"); __r; })
#define D1(op, rm, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " f3, f1, " rm "\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f1", "f3"); __r; })
#define S1(op, rm, a) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n " op " f3, f1, " rm "\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a) : "f1", "f3"); __r; })
#define DX(op, rm, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " %0, f1, " rm : "=r"(__r) : "r"(a) : "f1"); __r; })
#define SX(op, rm, a) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n " op " %0, f1, " rm : "=r"(__r) : "r"(a) : "f1"); __r; })
#define XD(op, rm, a) ({ u64 __r; __asm__ volatile(op " f3, %1, " rm "\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f3"); __r; })
#define XS(op, rm, a) ({ u64 __r; __asm__ volatile(op " f3, %1, " rm "\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a) : "f3"); __r; })
#define XDN(op, a) ({ u64 __r; __asm__ volatile(op " f3, %1\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f3"); __r; })
/* Raw register bits in and out, for NaN-boxing (no fmv.w.x boxing on the way in). */
#define RAW2(op, a, b) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n " op " f3, f1, f2\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2", "f3"); __r; })
#define RAW1(op, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " f3, f1\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f1", "f3"); __r; })
#define RAWX(op, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " %0, f1" : "=r"(__r) : "r"(a) : "f1"); __r; })
#define RAWXX(op, a, b) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n " op " %0, f1, f2" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2"); __r; })

/* Operands around the edges: underflow threshold, overflow, ties, NaNs. */
static volatile u64 dv[] = {
  0x000fffffffffffffUL, 0x0010000000000000UL, 0x3fefffffffffffffUL, 0x3ff0000000000001UL, 0x0000000000000003UL,
  0x3fe0000000000001UL, 0x7fefffffffffffffUL, 0xffefffffffffffffUL, 0x3ff8000000000000UL, 0xbcb0000000000000UL,
  0x3ca0000000000000UL, 0x0010000000000001UL, 0x8000000000000001UL, 0x7ff4000000000000UL, 0xfff8000000000000UL,
  0x7ff0000000000000UL, 0x8000000000000000UL, 0x4340000000000001UL, 0xc00fffffffffffffUL, 0x3fd5555555555555UL,
};
static volatile u32 sv[] = {
  0x007fffff, 0x00800000, 0x3f7fffff, 0x3f800001, 0x00000003, 0x3f000001, 0x7f7fffff, 0xff7fffff, 0x3fc00000,
  0xb3800000, 0x33000000, 0x00800001, 0x80000001, 0x7fa00000, 0xffc00000, 0x7f800000, 0x80000000, 0x4b000001,
  0xc07fffff, 0x3eaaaaab,
};
#define ND (sizeof(dv) / sizeof(dv[0]))
#define NS (sizeof(sv) / sizeof(sv[0]))

static void arith_all_modes(void) {
  for (unsigned i = 0; i < ND; i++) {
    for (unsigned j = 0; j < ND; j++) {
      u64 a = dv[i], b = dv[j];
#define OPS(rm) out(D2("fadd.d", rm, a, b)), out(D2("fsub.d", rm, a, b)), out(D2("fmul.d", rm, a, b)), out(D2("fdiv.d", rm, a, b));
      EACH_RM(OPS)
#undef OPS
    }
#define OPS(rm) out(D1("fsqrt.d", rm, dv[i])), out(D1("fcvt.s.d", rm, dv[i]));
    EACH_RM(OPS)
#undef OPS
    putc_('\n');
  }
  for (unsigned i = 0; i < NS; i++) {
    for (unsigned j = 0; j < NS; j++) {
      u64 a = sv[i], b = sv[j];
#define OPS(rm) out(S2("fadd.s", rm, a, b)), out(S2("fsub.s", rm, a, b)), out(S2("fmul.s", rm, a, b)), out(S2("fdiv.s", rm, a, b));
      EACH_RM(OPS)
#undef OPS
    }
#define OPS(rm) out(S1("fsqrt.s", rm, sv[i]));
    EACH_RM(OPS)
#undef OPS
    putc_('\n');
  }
}

static void fma_all(void) {
  /* Every triple would be 8000 x 48 results; a fixed pseudo-random walk over them covers the specials. */
  u64 s = 12345;
  for (int n = 0; n < 260; n++) {
    s = s * 6364136223846793005UL + 1442695040888963407UL;
    unsigned i = (s >> 33) % ND, j = (s >> 43) % ND, k = (s >> 53) % ND;
    u64 a = dv[i], b = dv[j], c = n < 40 ? dv[k] : (dv[k] ^ (s & 0xfff)); /* perturbed addends: ties */
    if (n % 7 == 0) c = D2("fmul.d", "rne", a, b) ^ 0x8000000000000000UL; /* cancellation */
#define OPS(rm) out(D3("fmadd.d", rm, a, b, c)), out(D3("fmsub.d", rm, a, b, c)), out(D3("fnmsub.d", rm, a, b, c)), out(D3("fnmadd.d", rm, a, b, c));
    EACH_RM(OPS)
#undef OPS
    u64 x = sv[i], y = sv[j], z = n < 40 ? sv[k] : (sv[k] ^ (s & 0x3f));
    if (n % 7 == 0) z = S2("fmul.s", "rne", x, y) ^ 0x80000000UL;
#define OPS(rm) out(S3("fmadd.s", rm, x, y, z)), out(S3("fmsub.s", rm, x, y, z)), out(S3("fnmsub.s", rm, x, y, z)), out(S3("fnmadd.s", rm, x, y, z));
    EACH_RM(OPS)
#undef OPS
    putc_('\n');
  }
  /* 0 * inf + qNaN is invalid; inf - inf through the product */
  out(D3("fmadd.d", "rne", 0UL, 0x7ff0000000000000UL, 0x7ff8000000000000UL));
  out(S3("fmadd.s", "rne", 0x7f800000UL, 0UL, 0x7fc00000UL));
  out(D3("fmadd.d", "rne", 0x7ff0000000000000UL, 0x3ff0000000000000UL, 0xfff0000000000000UL));
  out(D3("fmsub.d", "rne", 0x7fefffffffffffffUL, 0x7fefffffffffffffUL, 0x7ff0000000000000UL));
  out(D3("fmadd.d", "rup", 0x7fefffffffffffffUL, 0x4000000000000000UL, 0xffefffffffffffffUL));
  putc_('\n');
}

static volatile u64 cvd[] = {
  0x3fe0000000000000UL, 0xbfe0000000000000UL, 0x3ff8000000000000UL, 0xbff8000000000000UL, 0x4004000000000000UL,
  0xc004000000000000UL, 0xbfd3333333333333UL, 0x41dfffffffe00000UL, 0x41dfffffffc00000UL, 0xc1e0000000100000UL,
  0xc1e0000000000000UL, 0x41efffffffe00000UL, 0x41effffffff00000UL, 0x43e0000000000000UL, 0xc3e0000000000000UL,
  0x43dfffffffffffffUL, 0x43f0000000000000UL, 0x43efffffffffffffUL, 0xbff0000000000000UL, 0x7ff0000000000000UL,
  0xfff0000000000000UL, 0x7ff4000000000000UL, 0xfff8000000000000UL, 0x8000000000000000UL, 0x0000000000000001UL,
  0xbcb0000000000000UL,
};
static volatile u32 cvs[] = {
  0x3f000000, 0xbf000000, 0x3fc00000, 0xbfc00000, 0x40200000, 0xc0200000, 0xbe99999a, 0x4effffff, 0x4f000000,
  0xcf000000, 0xcf000001, 0x4f7fffff, 0x4f800000, 0x5f000000, 0xdf000000, 0x5effffff, 0x5f800000, 0x5f7fffff,
  0xbf800000, 0x7f800000, 0xff800000, 0x7fa00000, 0xffc00000, 0x80000000, 0x00000001, 0xb3800000,
};
static volatile u64 ints[] = {
  0, 1, (u64)-1, 0x7fffffffUL, 0x80000000UL, 0xffffffffUL, 0x7fffffffffffffffUL, 0x8000000000000000UL,
  0x8000000000000001UL, 0x0020000000000001UL, 0x0020000000000003UL, 0x00000000ffffff7fUL, 0x0000000001000001UL,
  0x0000000001000003UL, 0xfffffffffeffffffUL, 0x7fffff80UL, 0xffffffff80000001UL, 0x123456789abcdef1UL,
};

static void conversions(void) {
  for (unsigned i = 0; i < sizeof(cvd) / sizeof(cvd[0]); i++) {
#define OPS(rm) out(DX("fcvt.w.d", rm, cvd[i])), out(DX("fcvt.wu.d", rm, cvd[i])), out(DX("fcvt.l.d", rm, cvd[i])), out(DX("fcvt.lu.d", rm, cvd[i]));
    EACH_RM(OPS)
#undef OPS
    putc_('\n');
  }
  for (unsigned i = 0; i < sizeof(cvs) / sizeof(cvs[0]); i++) {
#define OPS(rm) out(SX("fcvt.w.s", rm, cvs[i])), out(SX("fcvt.wu.s", rm, cvs[i])), out(SX("fcvt.l.s", rm, cvs[i])), out(SX("fcvt.lu.s", rm, cvs[i]));
    EACH_RM(OPS)
#undef OPS
    out(RAW1("fcvt.d.s", 0xffffffff00000000UL | cvs[i]));
    putc_('\n');
  }
  for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
    u64 v = ints[i];
#define OPS(rm) out(XD("fcvt.d.l", rm, v)), out(XD("fcvt.d.lu", rm, v)), out(XS("fcvt.s.l", rm, v)), out(XS("fcvt.s.lu", rm, v)), out(XS("fcvt.s.w", rm, v)), out(XS("fcvt.s.wu", rm, v));
    EACH_RM(OPS)
#undef OPS
    out(XDN("fcvt.d.w", v)), out(XDN("fcvt.d.wu", v)); /* exact: no rounding mode */
    putc_('\n');
  }
}

static void compares_and_boxing(void) {
  static const u64 d[] = {0x7ff4000000000000UL, 0x7ff8000000000000UL, 0x3ff0000000000000UL, 0x8000000000000000UL,
                          0x0000000000000000UL, 0xfff0000000000000UL, 0xbff0000000000000UL};
  static const u64 s[] = {0xffffffff7fa00000UL, 0xffffffff7fc00000UL, 0xffffffff3f800000UL, 0xffffffff80000000UL,
                          0xffffffff00000000UL, 0xffffffffff800000UL, 0x000000003f800000UL /* not boxed */,
                          0xfffffffe3f800000UL /* not boxed */};
  for (unsigned i = 0; i < 7; i++) {
    for (unsigned j = 0; j < 7; j++) {
      out(RAWXX("feq.d", d[i], d[j])), out(RAWXX("flt.d", d[i], d[j])), out(RAWXX("fle.d", d[i], d[j]));
      out(RAW2("fmin.d", d[i], d[j])), out(RAW2("fmax.d", d[i], d[j]));
      out(RAW2("fsgnj.d", d[i], d[j])), out(RAW2("fsgnjn.d", d[i], d[j])), out(RAW2("fsgnjx.d", d[i], d[j]));
    }
    putc_('\n');
  }
  for (unsigned i = 0; i < 8; i++) {
    for (unsigned j = 0; j < 8; j++) {
      out(RAWXX("feq.s", s[i], s[j])), out(RAWXX("flt.s", s[i], s[j])), out(RAWXX("fle.s", s[i], s[j]));
      out(RAW2("fmin.s", s[i], s[j])), out(RAW2("fmax.s", s[i], s[j]));
      out(RAW2("fsgnj.s", s[i], s[j])), out(RAW2("fsgnjn.s", s[i], s[j])), out(RAW2("fsgnjx.s", s[i], s[j]));
      out(RAW2("fadd.s", s[i], s[j]));
    }
    out(RAWX("fclass.s", s[i])), out(RAWX("fmv.x.w", s[i])), out(RAW1("fcvt.d.s", s[i]));
    out(RAW1("fsqrt.s", s[i])), out(RAWX("fcvt.w.s", s[i]));
    putc_('\n');
  }
  /* fclass of every class, both precisions */
  static const u64 cd[] = {0xfff0000000000000UL, 0xbff0000000000000UL, 0x800fffffffffffffUL, 0x8000000000000000UL,
                           0, 0x000fffffffffffffUL, 0x3ff0000000000000UL, 0x7ff0000000000000UL,
                           0x7ff0000000000001UL, 0x7ff8000000000000UL, 0xfff4000000000000UL};
  for (unsigned i = 0; i < 11; i++) out(RAWX("fclass.d", cd[i]));
  static const u32 cs[] = {0xff800000, 0xbf800000, 0x807fffff, 0x80000000, 0, 0x007fffff, 0x3f800000,
                           0x7f800000, 0x7f800001, 0x7fc00000, 0xffa00000};
  for (unsigned i = 0; i < 11; i++) out(RAWX("fclass.s", 0xffffffff00000000UL | cs[i]));
  putc_('\n');
  /* loads box, stores keep raw bits */
  static volatile u64 mem[4] = {0x1122334455667788UL, 0x7ff123456789abcdUL};
  u64 r1, r2, r3;
  __asm__ volatile("flw f5, 0(%3)\n fmv.x.d %0, f5\n fsd f5, 16(%3)\n fld f6, 4(%3)\n fmv.x.d %1, f6\n"
                   "fmv.d.x f7, %4\n fsw f7, 28(%3)\n flw f8, 1(%3)\n fmv.x.d %2, f8"
                   : "=&r"(r1), "=&r"(r2), "=&r"(r3)
                   : "r"(mem), "r"(0x0123456789abcdefUL)
                   : "f5", "f6", "f7", "f8", "memory");
  out(r1), out(r2), out(r3), out(mem[2]), out(mem[3]);
  putc_('\n');
}

static void illegal_and_csrs(void) {
  /* Reserved static rounding modes 5 and 6, in every instruction class that has an rm field. */
  __asm__ volatile(".insn r 0x53, 5, 0x01, f3, f1, f2");  /* fadd.d */
  __asm__ volatile(".insn r 0x53, 6, 0x00, f3, f1, f2");  /* fadd.s */
  __asm__ volatile(".insn r 0x53, 5, 0x2d, f3, f1, f0");  /* fsqrt.d */
  __asm__ volatile(".insn r 0x53, 6, 0x61, a0, f1, x0" ::: "a0"); /* fcvt.w.d */
  __asm__ volatile(".insn r 0x53, 5, 0x69, f3, a0, x0");  /* fcvt.d.w: exact, but rm is still checked */
  __asm__ volatile(".insn r 0x53, 6, 0x21, f3, f1, f0");  /* fcvt.d.s */
  __asm__ volatile(".insn r 0x53, 5, 0x20, f3, f1, x1");  /* fcvt.s.d */
  __asm__ volatile(".insn r4 0x43, 5, 1, f3, f1, f2, f4"); /* fmadd.d */
  __asm__ volatile(".insn r4 0x4f, 6, 0, f3, f1, f2, f4"); /* fnmadd.s */
  /* Valid rm for exact conversions is accepted */
  __asm__ volatile(".insn r 0x53, 1, 0x69, f3, a0, x0\n .insn r 0x53, 3, 0x21, f3, f1, f0");
  /* Minor opcodes that do not exist, other formats, bad rs2 */
  __asm__ volatile(".insn r 0x53, 3, 0x11, f3, f1, f2");  /* fsgnj funct3 3 */
  __asm__ volatile(".insn r 0x53, 2, 0x15, f3, f1, f2");  /* fmin/fmax funct3 2 */
  __asm__ volatile(".insn r 0x53, 3, 0x51, a0, f1, f2" ::: "a0"); /* feq/flt/fle funct3 3 */
  __asm__ volatile(".insn r 0x53, 2, 0x71, a0, f1, f0" ::: "a0"); /* fmv.x.d/fclass funct3 2 */
  __asm__ volatile(".insn r 0x53, 1, 0x79, f3, a0, x0");  /* fmv.d.x funct3 1 */
  __asm__ volatile(".insn r 0x53, 0, 0x05, f3, f1, f2");  /* fadd.q */
  __asm__ volatile(".insn r 0x53, 0, 0x02, f3, f1, f2");  /* fadd.h (no Zfh) */
  __asm__ volatile(".insn r 0x53, 0, 0x2d, f3, f1, f1");  /* fsqrt.d with rs2 != 0 */
  __asm__ volatile(".insn r 0x53, 0, 0x61, a0, f1, x4" ::: "a0"); /* fcvt.?.d with rs2 = 4 */
  __asm__ volatile(".insn r 0x53, 0, 0x20, f3, f1, x0");  /* fcvt.s.s */
  __asm__ volatile(".insn r 0x53, 0, 0x21, f3, f1, x1");  /* fcvt.d.d */
  __asm__ volatile(".insn i 0x07, 1, f3, 0(sp)");          /* flh */
  __asm__ volatile(".insn i 0x07, 4, f3, 0(sp)");          /* flq */
  __asm__ volatile(".insn s 0x27, 1, f3, 0(sp)");          /* fsh */
  __asm__ volatile(".insn r4 0x43, 0, 2, f3, f1, f2, f4"); /* fmadd.h */
  kv("traps", traps);
  /* Dynamic mode with a reserved frm: only instructions that round trap. */
  for (int m = 4; m < 8; m++) {
    csr_write(frm, m);
    out(D2("fadd.d", "dyn", 0x3ff0000000000000UL, 0x3ca0000000000001UL));
    out(RAW2("fsgnj.d", 0x3ff0000000000000UL, 0x8000000000000000UL));
    out(RAWXX("flt.d", 0x3ff0000000000000UL, 0x8000000000000000UL));
    out(XD("fcvt.d.l", "dyn", 0x20000000000001UL));
    out(DX("fcvt.w.d", "dyn", 0x3ff8000000000000UL));
    putc_('\n');
  }
  csr_write(frm, 0);
  kv("traps", traps);
  /* fcsr, frm and fflags are views of one register; only the defined bits stick */
  u64 a, b, c, d;
  __asm__ volatile("csrw fcsr, %4\n csrr %0, fcsr\n csrrw %1, frm, %5\n csrrs %2, fflags, %6\n csrr %3, fcsr"
                   : "=&r"(a), "=&r"(b), "=&r"(c), "=&r"(d)
                   : "r"(~0UL), "r"(0x12UL), "r"(0x3UL));
  kv("fcsr", a), kv("frm", b), kv("fflags", c), kv("fcsr", d);
  __asm__ volatile("csrwi fcsr, 0\n csrsi fflags, 0x1f\n csrci fflags, 2\n csrr %0, fcsr\n csrrwi %1, frm, 7\n csrr %2, fcsr"
                   : "=&r"(a), "=&r"(b), "=&r"(c));
  kv("fcsr", a), kv("frm", b), kv("fcsr", c);
  csr_write(fcsr, 0);
  /* mstatus.FS: off makes every FP instruction and CSR illegal; initial becomes dirty on a write */
  __asm__ volatile("csrc mstatus, %0" ::"r"(3UL << 13));
  kv("mstatus.fs", (csr_read(mstatus) >> 13) & 3);
  __asm__ volatile("fadd.d f1, f2, f3");
  __asm__ volatile("fmv.x.d a0, f1" ::: "a0");
  __asm__ volatile("fld f1, 0(sp)");
  __asm__ volatile("csrr a0, fflags" ::: "a0");
  __asm__ volatile("csrw frm, zero");
  __asm__ volatile(".half 0x2002"); /* c.fld f0, 0(sp) */
  kv("traps", traps);
  __asm__ volatile("csrs mstatus, %0" ::"r"(1UL << 13));
  u64 st = csr_read(mstatus);
  kv("initial", (st >> 13) & 3), kv("sd", st >> 63);
  __asm__ volatile("fmv.x.d a0, f1" ::: "a0");
  kv("after fmv.x.d", (csr_read(mstatus) >> 13) & 3);
  __asm__ volatile("fmv.d.x f1, zero");
  st = csr_read(mstatus);
  kv("after fmv.d.x", (st >> 13) & 3), kv("sd", st >> 63);
  __asm__ volatile("csrc mstatus, %0\n csrs mstatus, %1\n csrwi fflags, 1" ::"r"(3UL << 13), "r"(2UL << 13));
  kv("after fflags write", (csr_read(mstatus) >> 13) & 3);
  __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 13));
}

int main(void) {
  csr_write(fflags, 0);
  csr_write(frm, 3);
  arith_all_modes();
  csr_write(frm, 1);
  fma_all();
  csr_write(frm, 2);
  conversions();
  csr_write(frm, 0);
  compares_and_boxing();
  illegal_and_csrs();
  kv("hash", h);
  return 0;
}
