/* F and D: arithmetic in every rounding mode with fflags, conversions, compares, classify, sign injection. */
#include "lib.h"

static volatile u64 dv[] = {
  0x3ff0000000000000UL, 0xbff8000000000000UL, 0x4009000000000000UL, 0x0000000000000001UL,
  0x7fefffffffffffffUL, 0x7ff0000000000000UL, 0xfff0000000000000UL, 0x7ff8000000000000UL,
  0x7ff4000000000000UL, 0x8000000000000000UL, 0x0000000000000000UL, 0x3fb999999999999aUL,
  0x43e0000000000000UL, 0xc3e0000000000001UL, 0x41dfffffffc00000UL, 0x3fe0000000000000UL,
  0x4004000000000000UL, 0x0010000000000000UL,
};
static volatile u32 sv[] = {
  0x3f800000, 0xbfc00000, 0x40490fdb, 0x00000001, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
  0x7fa00000, 0x80000000, 0x00000000, 0x3dcccccd, 0x4f000000, 0xcf000001, 0x3f000000, 0x40200000,
  0x00800000,
};
#define ND (sizeof(dv) / sizeof(dv[0]))
#define NS (sizeof(sv) / sizeof(sv[0]))

#define FD2(op, a, b) ({ u64 __r; double __x; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n " op " f3, f1, f2\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2", "f3"); (void)__x; __r; })
#define FS2(op, a, b) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n fmv.w.x f2, %2\n " op " f3, f1, f2\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2", "f3"); __r; })
#define FD1(op, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " f3, f1\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f1", "f3"); __r; })
#define FS1(op, a) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n " op " f3, f1\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a) : "f1", "f3"); __r; })
#define FDX(op, a) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n " op " %0, f1" : "=r"(__r) : "r"(a) : "f1"); __r; })
#define FSX(op, a) ({ u64 __r; __asm__ volatile("fmv.w.x f1, %1\n " op " %0, f1" : "=r"(__r) : "r"(a) : "f1"); __r; })
#define FXD(op, a) ({ u64 __r; __asm__ volatile(op " f3, %1\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a) : "f3"); __r; })
#define FXS(op, a) ({ u64 __r; __asm__ volatile(op " f3, %1\n fmv.x.w %0, f3" : "=r"(__r) : "r"(a) : "f3"); __r; })
#define CMPD(op, a, b) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n " op " %0, f1, f2" : "=r"(__r) : "r"(a), "r"(b) : "f1", "f2"); __r; })
#define FMAD(op, a, b, c) ({ u64 __r; __asm__ volatile("fmv.d.x f1, %1\n fmv.d.x f2, %2\n fmv.d.x f4, %3\n " op " f3, f1, f2, f4\n fmv.x.d %0, f3" : "=r"(__r) : "r"(a), "r"(b), "r"(c) : "f1", "f2", "f3", "f4"); __r; })

static u64 h;
static void out(u64 v) {
  u64 fl = csr_read(fflags);
  csr_write(fflags, 0);
  h = (h ^ v ^ (fl << 56)) * 0x100000001b3UL;
  puthex(v);
  putc_(':');
  putc_("0123456789abcdefghijklmnopqrstuv"[fl & 31]);
  putc_(' ');
}

int main(void) {
  csr_write(fflags, 0);
  for (int rm = 0; rm < 5; rm++) {
    csr_write(frm, rm);
    for (unsigned i = 0; i < ND; i++) {
      for (unsigned j = 0; j < ND; j += (i % 3) + 1) {
        u64 a = dv[i], b = dv[j];
        out(FD2("fadd.d", a, b)), out(FD2("fsub.d", a, b)), out(FD2("fmul.d", a, b)), out(FD2("fdiv.d", a, b));
        out(FMAD("fmadd.d", a, b, dv[(i + j) % ND]));
      }
      out(FD1("fsqrt.d", dv[i]));
      out(FDX("fcvt.w.d", dv[i])), out(FDX("fcvt.wu.d", dv[i])), out(FDX("fcvt.l.d", dv[i])), out(FDX("fcvt.lu.d", dv[i]));
      out(FD1("fcvt.s.d", dv[i]));
      putc_('\n');
    }
    for (unsigned i = 0; i < NS; i++) {
      for (unsigned j = 0; j < NS; j += (i % 3) + 1) {
        u64 a = sv[i], b = sv[j];
        out(FS2("fadd.s", a, b)), out(FS2("fsub.s", a, b)), out(FS2("fmul.s", a, b)), out(FS2("fdiv.s", a, b));
      }
      out(FS1("fsqrt.s", sv[i]));
      out(FSX("fcvt.w.s", sv[i])), out(FSX("fcvt.wu.s", sv[i])), out(FSX("fcvt.l.s", sv[i])), out(FSX("fcvt.lu.s", sv[i]));
      out(FS1("fcvt.d.s", sv[i]));
      putc_('\n');
    }
    long ints[] = {0, 1, -1, 0x7fffffff, -0x80000000L, 0x123456789abcdefL, (long)0x8000000000000001UL, 0x20000001, 0x1000000000000001L};
    for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
      out(FXD("fcvt.d.l", ints[i])), out(FXD("fcvt.d.lu", ints[i])), out(FXD("fcvt.d.w", ints[i])), out(FXD("fcvt.d.wu", ints[i]));
      out(FXS("fcvt.s.l", ints[i])), out(FXS("fcvt.s.lu", ints[i])), out(FXS("fcvt.s.w", ints[i])), out(FXS("fcvt.s.wu", ints[i]));
      putc_('\n');
    }
  }
  csr_write(frm, 0);
  for (unsigned i = 0; i < ND; i++) {
    for (unsigned j = 0; j < ND; j++) {
      u64 a = dv[i], b = dv[j];
      out(CMPD("feq.d", a, b)), out(CMPD("flt.d", a, b)), out(CMPD("fle.d", a, b));
      out(FD2("fmin.d", a, b)), out(FD2("fmax.d", a, b)), out(FD2("fsgnj.d", a, b)), out(FD2("fsgnjn.d", a, b)), out(FD2("fsgnjx.d", a, b));
    }
    out(FDX("fclass.d", dv[i]));
    putc_('\n');
  }
  for (unsigned i = 0; i < NS; i++) {
    out(FSX("fclass.s", sv[i]));
    out(FS2("fmin.s", sv[i], sv[(i + 3) % NS])), out(FS2("fmax.s", sv[i], sv[(i + 5) % NS]));
  }
  putc_('\n');
  kv("hash", h);
  return 0;
}
