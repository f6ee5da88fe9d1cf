/*
 * Every hart hammers shared counters with AMOs and LR/SC loops, then hart 0 checks that no update was
 * lost. Started by the test with a0 = hart id, a1 = number of harts (crt.S leaves both alone).
 */
#include "lib.h"

#define ITER 20000
#define MAXH 8

static volatile u64 amo64, lrsc64, done;
static volatile u32 amo32, lrsc32, maxw;
static volatile u64 order[MAXH];
char stacks[MAXH][8192] __attribute__((aligned(16), used));

static inline void lrsc_inc64(volatile u64 *p) {
  u64 t, r;
  __asm__ volatile("1: lr.d %0, (%2)\n addi %0, %0, 1\n sc.d %1, %0, (%2)\n bnez %1, 1b"
                   : "=&r"(t), "=&r"(r)
                   : "r"(p)
                   : "memory");
}

static inline void lrsc_inc32(volatile u32 *p) {
  u32 t, r;
  __asm__ volatile("1: lr.w %0, (%2)\n addiw %0, %0, 1\n sc.w %1, %0, (%2)\n bnez %1, 1b"
                   : "=&r"(t), "=&r"(r)
                   : "r"(p)
                   : "memory");
}

int work(u64 hart, u64 harts) {
  for (u64 i = 0; i < ITER; i++) {
    __atomic_fetch_add(&amo64, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&amo32, 1, __ATOMIC_RELAXED);
    lrsc_inc64(&lrsc64);
    lrsc_inc32(&lrsc32);
    __asm__ volatile("amomaxu.w zero, %0, (%1)" ::"r"((u32)(i * harts + hart)), "r"(&maxw) : "memory");
  }
  order[hart] = __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
  if (hart != 0)
    for (;;) __asm__ volatile("wfi");
  while (done != harts) {
  }
  kv("harts", harts);
  kv("amo64", amo64);
  kv("amo32", amo32);
  kv("lrsc64", lrsc64);
  kv("lrsc32", lrsc32);
  kv("maxw", maxw);
  u64 want = (u64)ITER * harts;
  int bad = amo64 != want || amo32 != want || lrsc64 != want || lrsc32 != want ||
            maxw != (u32)((ITER - 1) * harts + harts - 1);
  puts_(bad ? "LOST UPDATES\n" : "ALL COUNTED\n");
  return bad;
}

/* A stack per hart before any C runs: crt.S gave every hart the same one. */
__attribute__((naked)) int main(void) {
  __asm__ volatile("la sp, stacks\n addi t0, a0, 1\n slli t0, t0, 13\n add sp, sp, t0\n tail work");
}
