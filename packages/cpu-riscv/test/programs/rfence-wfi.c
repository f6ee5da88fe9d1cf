/*
 * A remote SFENCE.VMA asked of a hart asleep in WFI (harts on worker threads, the host's SBI): hart 1
 * loads through a virtual page (its TLB now holds the mapping) and sleeps; hart 0 points the page at
 * another physical page, asks hart 1 for SFENCE.VMA, then wakes it with an IPI. Hart 1 must load from
 * the new page: the fence was not waited for (the sleeping hart is not woken for it) but is done
 * before the hart runs again. Started with a0 = hart id.
 */
#include "lib.h"

#define RFENCE 0x52464e43L
#define IPI 0x735049L
#define PTE(pa, flags) ((((u64)(pa)) >> 12) << 10 | (flags))
/* V R W X A D */
#define RWXAD 0xcf
#define RWAD 0xc7

char stacks[2][8192] __attribute__((aligned(16), used));
static u64 root[512] __attribute__((aligned(4096)));
static u64 l1[512] __attribute__((aligned(4096)));
static u64 l0[512] __attribute__((aligned(4096)));
static volatile u64 page_a[512] __attribute__((aligned(4096)));
static volatile u64 page_b[512] __attribute__((aligned(4096)));
static volatile u64 tables, first, seen, go;

void smain(u64 hart) {
  volatile u64 *v = (volatile u64 *)0x40000000UL;
  if (hart == 0) {
    page_a[0] = 0xaaaa;
    page_b[0] = 0xbbbb;
    root[0] = PTE(0, RWAD);              /* devices: 0..1 GiB */
    root[1] = PTE(l1, 1);                /* 0x40000000: the test page */
    root[2] = PTE(0x80000000UL, RWXAD);  /* RAM, identity */
    l1[0] = PTE(l0, 1);
    l0[0] = PTE(page_a, RWAD);
    __asm__ volatile("fence" ::: "memory");
    tables = 1;
  } else
    while (!tables) {
    }
  csr_write(satp, (8UL << 60) | ((u64)root >> 12));
  __asm__ volatile("sfence.vma" ::: "memory");
  if (hart == 1) {
    u64 a = *v;
    csr_write(sie, 2); /* SSIE: an IPI ends WFI (SIE stays clear: no trap) */
    first = a;
    while (!go) __asm__ volatile("wfi");
    __asm__ volatile("csrc sip, %0" ::"r"(2UL));
    seen = *v;
    for (;;) __asm__ volatile("wfi");
  }
  while (!first) {
  }
  /* 100 ms at 10 MHz: hart 1 is asleep in WFI by then. */
  u64 t = csr_read(time);
  while (csr_read(time) - t < 1000000) {
  }
  l0[0] = PTE(page_b, RWAD);
  __asm__ volatile("fence" ::: "memory");
  long f = sbi_call(RFENCE, 1, 2, 0);
  go = 1;
  long i = sbi_call(IPI, 0, 2, 0);
  while (!seen) {
  }
  kv("first", first);
  kv("seen", seen);
  kv("fence", f);
  kv("ipi", i);
  *(volatile u32 *)0x100000 = first == 0xaaaa && seen == 0xbbbb && f == 0 && i == 0 ? 0x5555 : 0x3333;
  for (;;) {
  }
}

/* A stack per hart, the counters (time) readable in S-mode, the S interrupts delegated (so that sie.SSIE
   exists), then S-mode (MPP = S) at smain with a0 still
   the hart id. */
__attribute__((naked)) int main(void) {
  __asm__ volatile("la sp, stacks\n addi t0, a0, 1\n slli t0, t0, 13\n add sp, sp, t0\n"
                   " li t0, 7\n csrw mcounteren, t0\n li t0, 0x222\n csrw mideleg, t0\n"
                   " li t0, 0x1800\n csrc mstatus, t0\n li t0, 0x800\n csrs mstatus, t0\n"
                   " la t0, smain\n csrw mepc, t0\n mret");
}
