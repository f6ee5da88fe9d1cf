/* Loads and stores of every width and signedness (aligned and misaligned), and every AMO with LR/SC. */
#include "lib.h"

static volatile unsigned char buf[64] __attribute__((aligned(16)));

#define LD(op, p) ({ u64 __r; __asm__ volatile(op " %0, 0(%1)" : "=r"(__r) : "r"(p) : "memory"); __r; })
#define ST(op, p, v) __asm__ volatile(op " %0, 0(%1)" ::"r"(v), "r"(p) : "memory")
#define AMO(op, p, v) ({ u64 __r; __asm__ volatile(op " %0, %2, (%1)" : "=r"(__r) : "r"(p), "r"(v) : "memory"); __r; })

int main(void) {
  for (int i = 0; i < 64; i++) buf[i] = (unsigned char)(i * 37 + 0x81);
  for (int off = 0; off < 9; off++) {
    volatile unsigned char *p = buf + off;
    u64 r[] = {LD("lb", p), LD("lbu", p), LD("lh", p), LD("lhu", p), LD("lw", p), LD("lwu", p), LD("ld", p)};
    for (unsigned k = 0; k < 7; k++) puthex(r[k]), putc_(' ');
    putc_('\n');
  }
  for (int off = 0; off < 9; off++) {
    ST("sd", buf + 16 + off, 0x1122334455667788UL + off);
    ST("sw", buf + 32 + off, 0x99aabbccUL);
    ST("sh", buf + 40 + off, 0xddeeUL);
    ST("sb", buf + 48 + off, 0xffUL - off);
  }
  for (int i = 0; i < 64; i += 8) puthex(*(volatile u64 *)(buf + i)), putc_('\n');
  /* AMOs on a word and a doubleword */
  volatile u64 *d = (volatile u64 *)buf;
  volatile u32 *w = (volatile u32 *)(buf + 8);
  u64 vals[] = {5, 0xffffffffffffff00UL, 0x8000000000000001UL, 3};
  for (int i = 0; i < 4; i++) {
    u64 v = vals[i];
    *d = 0x7000000000000010UL;
    *w = 0x80000010U;
    u64 r[] = {
      AMO("amoswap.d", d, v), AMO("amoadd.d", d, v), AMO("amoxor.d", d, v), AMO("amoand.d", d, v),
      AMO("amoor.d", d, v), AMO("amomin.d", d, v), AMO("amomax.d", d, v), AMO("amominu.d", d, v),
      AMO("amomaxu.d", d, v), *d,
      AMO("amoswap.w", w, v), AMO("amoadd.w", w, v), AMO("amoxor.w", w, v), AMO("amoand.w", w, v),
      AMO("amoor.w", w, v), AMO("amomin.w", w, v), AMO("amomax.w", w, v), AMO("amominu.w", w, v),
      AMO("amomaxu.w", w, v), *w,
    };
    for (unsigned k = 0; k < 20; k++) puthex(r[k]), putc_(k % 10 == 9 ? '\n' : ' ');
  }
  /* LR/SC: success, then failure after an intervening SC */
  u64 tmp, res1, res2;
  *d = 42;
  __asm__ volatile("lr.d %0, (%2)\n sc.d %1, %3, (%2)" : "=&r"(tmp), "=&r"(res1) : "r"(d), "r"(43UL) : "memory");
  __asm__ volatile("sc.d %0, %2, (%1)" : "=&r"(res2) : "r"(d), "r"(44UL) : "memory");
  kv("lr", tmp);
  kv("sc1", res1);
  kv("sc2", res2);
  kv("mem", *d);
  return 0;
}
