/* Privileged behaviour: exceptions with cause/tval/epc, ECALL from each mode, an interrupt, and Sv39
   paging with hardware A/D updates and U/SUM/MXR permission checks. Every trap is reported. */
#include "lib.h"

#define MAGIC_RETURN 0x5a5a

static volatile u64 continuation;
static volatile int traps;

static inline unsigned inst_len(u64 epc) { return ((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2; }

u64 trap_handler(void) {
  u64 cause = csr_read(mcause), tval = csr_read(mtval), epc = csr_read(mepc);
  u64 a7;
  __asm__ volatile("mv %0, a7" : "=r"(a7));
  traps++;
  puts_("trap "), puthex(cause), putc_(' '), puthex(tval), putc_(' '), puthex(csr_read(mstatus) & 0x1800), putc_('\n');
  if (cause >> 63) {
    csr_write(mip, 0); /* clear the software interrupt we raised */
    return 0;
  }
  if ((cause == 8 || cause == 9) && a7 == MAGIC_RETURN) {
    /* back to M-mode, at the continuation */
    csr_write(mepc, continuation);
    __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 11));
    return 0;
  }
  if (cause == 12 || cause == 1) {
    csr_write(mepc, continuation); /* an instruction fault: give up on that code */
    __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 11));
    return 0;
  }
  csr_write(mepc, epc + inst_len(epc));
  return 0;
}

/* Run fn in `mode` (0 U, 1 S); fn ends with ecall(MAGIC_RETURN). */
static void run_in(int mode, void (*fn)(void)) {
  __asm__ volatile(
      "la t0, 1f\n sd t0, 0(%2)\n"
      "li t0, 0x1800\n csrc mstatus, t0\n slli t1, %0, 11\n csrs mstatus, t1\n"
      "csrw mepc, %1\n mret\n"
      "1:\n" ::"r"((u64)mode),
      "r"(fn), "r"(&continuation)
      : "t0", "t1", "memory", "ra", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t2", "t3", "t4", "t5", "t6");
}

#define ECALL_BACK() __asm__ volatile("li a7, %0\n ecall" ::"i"(MAGIC_RETURN) : "a7")

static u64 pt_root[512] __attribute__((aligned(4096)));
static u64 pt_l1[512] __attribute__((aligned(4096)));
static u64 pt_l0[512] __attribute__((aligned(4096)));
static volatile u64 upage[512] __attribute__((aligned(4096)));
static volatile u64 result[8];

#define VA_U 0x40000000UL
#define VA_U_RO 0x40001000UL
#define VA_X 0x40002000UL

static void s_mode_tests(void) {
  volatile u64 *u = (volatile u64 *)VA_U;
  result[0] = *u; /* no SUM: load page fault */
  __asm__ volatile("csrs sstatus, %0" ::"r"(1UL << 18));
  result[1] = *u; /* SUM: works */
  *u = 0x1234; /* sets D */
  *(volatile u64 *)VA_U_RO = 5; /* read-only: store page fault */
  result[2] = *(volatile u64 *)VA_X; /* execute-only: load fault unless MXR */
  __asm__ volatile("csrs sstatus, %0" ::"r"(1UL << 19));
  result[3] = *(volatile u64 *)VA_X;
  result[4] = *(volatile u64 *)0x50000000UL; /* unmapped */
  ECALL_BACK();
}

static void u_mode_tests(void) {
  volatile u64 *u = (volatile u64 *)VA_U;
  result[5] = *u;
  __asm__ volatile("csrr %0, mstatus" : "=r"(result[6])); /* illegal in U */
  *(volatile u64 *)0x80000000UL = 1;                        /* kernel page from U: fault */
  ECALL_BACK();
}

static void s_ecall(void) {
  __asm__ volatile("li a7, 1\n ecall" ::: "a7");
  ECALL_BACK();
}

int main(void) {
  /* PMP: all of memory RWX for S and U, as firmware does (QEMU refuses MRET to S/U without a rule) */
  csr_write(pmpaddr0, ~0UL >> 10);
  csr_write(pmpcfg0, 0x1f);
  /* exceptions in M-mode */
  __asm__ volatile(".word 0");
  __asm__ volatile(".half 0");
  __asm__ volatile("csrr t0, 0x800" ::: "t0");
  __asm__ volatile("ebreak");
  __asm__ volatile("li a7, 0\n ecall" ::: "a7");
  __asm__ volatile("ld t0, 0(%0)" ::"r"(0x0a000000UL) : "t0"); /* load access fault */
  __asm__ volatile("sd t0, 0(%0)" ::"r"(0x0a000000UL) : "t0"); /* store access fault */
  __asm__ volatile("lr.d t0, (%0)" ::"r"((u64)&result[0] + 4) : "t0"); /* misaligned LR */
  /* an interrupt: M software interrupt through mip.SSIP (not delegated) */
  csr_write(mie, 1 << 1);
  __asm__ volatile("csrs mip, %0\n csrs mstatus, %1\n nop\n nop" ::"r"(2UL), "r"(8UL));
  __asm__ volatile("csrc mstatus, %0" ::"r"(8UL));
  kv("ssip", csr_read(mip) & 2);
  /* ECALL from S and U */
  run_in(1, s_ecall);
  /* Sv39: gigapage identity map for RAM (not U), a U page, a read-only U page, an execute-only page */
  pt_root[2] = (((u64)0x80000000 >> 12) << 10) | 0xcf; /* V R W X A D */
  pt_root[1] = (((u64)pt_l1 >> 12) << 10) | 1;
  pt_l1[0] = (((u64)pt_l0 >> 12) << 10) | 1;
  pt_l0[0] = (((u64)upage >> 12) << 10) | 0x17;             /* V R W U, no A/D */
  pt_l0[1] = (((u64)upage >> 12) << 10) | 0x13;             /* V R U */
  pt_l0[2] = (((u64)upage >> 12) << 10) | 0x09 | 0x40;      /* V X A */
  upage[0] = 0xabcdef;
  csr_write(satp, (8UL << 60) | ((u64)pt_root >> 12));
  __asm__ volatile("sfence.vma");
  run_in(1, s_mode_tests);
  __asm__ volatile("csrc mstatus, %0" ::"r"((1UL << 18) | (1UL << 19)));
  run_in(0, u_mode_tests);
  csr_write(satp, 0);
  kv("pte0", pt_l0[0]);
  kv("pte1", pt_l0[1]);
  kv("pte2", pt_l0[2]);
  for (int i = 0; i < 7; i++) kv("r", result[i]);
  kv("upage", upage[0]);
  kv("traps", traps);
  return 0;
}
