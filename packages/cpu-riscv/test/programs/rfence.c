/*
 * SBI remote fences between harts on worker threads (the test runs it with the host's SBI): hart 0, in
 * S-mode, asks for SFENCE.VMA on both harts, FENCE.I on every hart and one for a hart that does not exist,
 * and prints each result; hart 1 runs a loop meanwhile, so the fences reach it between slices.
 * Started with a0 = hart id.
 */
#include "lib.h"

#define RFENCE 0x52464e43L

char stacks[2][8192] __attribute__((aligned(16), used));
static volatile u64 spins, stop;

static long sbi(long fid, long mask, long base) { return sbi_call(RFENCE, fid, mask, base); }

void smain(u64 hart) {
  if (hart != 0) {
    while (!stop) spins++;
    for (;;) __asm__ volatile("wfi");
  }
  while (spins < 1000) {
  }
  long vma = sbi(1, 3, 0);
  long fencei = sbi(0, 0, -1);
  long bad = sbi(2, 1, 5);
  stop = 1;
  kv("vma", vma);
  kv("fencei", fencei);
  kv("bad", bad);
  *(volatile u32 *)0x100000 = vma == 0 && fencei == 0 && bad == -3 ? 0x5555 : 0x3333;
  for (;;) {
  }
}

/* A stack per hart, then S-mode (MPP = S) at smain with a0 still the hart id. */
__attribute__((naked)) int main(void) {
  __asm__ volatile("la sp, stacks\n addi t0, a0, 1\n slli t0, t0, 13\n add sp, sp, t0\n"
                   " li t0, 0x1800\n csrc mstatus, t0\n li t0, 0x800\n csrs mstatus, t0\n"
                   " la t0, smain\n csrw mepc, t0\n mret");
}
