/* Behaviour where QEMU 7.2 departs from the privileged specification (1.12), so it is checked on our hart
   alone against the transcript in spec.test.ts rather than against QEMU:
   - AMOs where no memory supports them raise a store/AMO access fault (QEMU: load access fault), and so
     does an SC there (QEMU lets it fail without a trap, which the spec also allows);
   - a page-table walk that reads outside memory raises an access fault of the original access type
     (QEMU: a page fault);
   - SRET (and MRET) to a mode below M clears MPRV (QEMU's SRET keeps it);
   - mepc[0] and sepc[0] read as zero (QEMU keeps the bit);
   - simultaneous M-level interrupts are taken in the order MEI, MSI, MTI, SEI, SSI, STI (QEMU takes the
     lowest-numbered first). */
#include "lib.h"

#define MAGIC 0x5a5a
volatile u64 continuation, saved_sp;

static inline unsigned inst_len(u64 epc) { return ((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2; }

u64 trap_handler(void) {
  u64 cause = csr_read(mcause), tval = csr_read(mtval), epc = csr_read(mepc), st = csr_read(mstatus);
  u64 a7;
  __asm__ volatile("mv %0, a7" : "=r"(a7));
  puts_("trap "), puthex(cause), putc_(' '), puthex(tval), putc_(' '), puthex(st & 0x21800), putc_('\n');
  if (cause >> 63) {
    u64 irq = cause & 63;
    if (irq == 3) *(volatile u32 *)0x2000000 = 0;
    if (irq == 7) *(volatile u64 *)0x2004000 = ~0UL;
    if (irq == 1 || irq == 5) __asm__ volatile("csrc mip, %0" ::"r"(1UL << irq));
    return 0;
  }
  if (((cause == 9 || cause == 8) && a7 == MAGIC) || cause == 1 || cause == 12) {
    csr_write(mepc, continuation);
    __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 11));
    return 0;
  }
  csr_write(mepc, epc + inst_len(epc));
  return 0;
}

extern void run_in(u64 mode, u64 pc);
__asm__(".globl run_in\n run_in:\n addi sp, sp, -112\n sd ra, 0(sp)\n sd s0, 8(sp)\n sd s1, 16(sp)\n"
        " sd s2, 24(sp)\n sd s3, 32(sp)\n sd s4, 40(sp)\n sd s5, 48(sp)\n sd s6, 56(sp)\n sd s7, 64(sp)\n"
        " sd s8, 72(sp)\n sd s9, 80(sp)\n sd s10, 88(sp)\n sd s11, 96(sp)\n"
        " la t0, saved_sp\n sd sp, 0(t0)\n la t0, 1f\n la t1, continuation\n sd t0, 0(t1)\n"
        " li t0, 0x1800\n csrc mstatus, t0\n slli t1, a0, 11\n csrs mstatus, t1\n csrw mepc, a1\n mret\n"
        "1: la t0, saved_sp\n ld sp, 0(t0)\n ld ra, 0(sp)\n ld s0, 8(sp)\n ld s1, 16(sp)\n ld s2, 24(sp)\n"
        " ld s3, 32(sp)\n ld s4, 40(sp)\n ld s5, 48(sp)\n ld s6, 56(sp)\n ld s7, 64(sp)\n ld s8, 72(sp)\n"
        " ld s9, 80(sp)\n ld s10, 88(sp)\n ld s11, 96(sp)\n addi sp, sp, 112\n ret\n");

static u64 root[512] __attribute__((aligned(4096)));
static u64 l1[512] __attribute__((aligned(4096)));

static void s_walks(void) {
  __asm__ volatile("ld t0, 0(%0)" ::"r"(0x40000000UL) : "t0");
  __asm__ volatile("sd t0, 0(%0)" ::"r"(0x40000000UL) : "t0", "memory");
  __asm__ volatile("jalr %0" ::"r"(0x40000000UL) : "ra");
}

int main(void) {
  csr_write(pmpaddr0, ~0UL >> 10);
  csr_write(pmpcfg0, 0x1f);
  /* AMOs and LR/SC where nothing is */
  __asm__ volatile("amoadd.w t0, t0, (%0)" ::"r"(0x0a000000UL) : "t0");
  __asm__ volatile("amoswap.d t0, t0, (%0)" ::"r"(0x0a000000UL) : "t0");
  __asm__ volatile("sc.d t0, t0, (%0)" ::"r"(0x0a000000UL) : "t0");
  /* walks that read outside memory */
  root[2] = (0x80000000UL >> 12) << 10 | 0xcf;
  root[1] = ((u64)l1 >> 12) << 10 | 1;
  l1[0] = (0x0a000000UL >> 12) << 10 | 1;
  csr_write(satp, (8UL << 60) | ((u64)root >> 12));
  __asm__ volatile("sfence.vma");
  run_in(1, (u64)s_walks);
  csr_write(satp, 0);
  /* SRET from M to S clears MPRV */
  __asm__ volatile("la t0, 1f\n la t1, continuation\n sd t0, 0(t1)\n li t0, 0x20100\n csrs mstatus, t0\n"
                   "la t0, 2f\n csrw sepc, t0\n sret\n 2: li a7, %0\n ecall\n 1:" ::"i"(MAGIC)
                   : "t0", "t1", "a7", "memory");
  /* epc bit 0 */
  csr_write(mepc, 0x80001003UL);
  csr_write(sepc, ~0UL);
  kv("mepc", csr_read(mepc)), kv("sepc", csr_read(sepc));
  /* Interrupt priority among MSI, MTI, SSI, STI pending at once (MIE is off until all are pending: the
     xRETs above left MPIE set, so it may have been turned on) */
  __asm__ volatile("csrc mstatus, %0" ::"r"(0x88UL));
  csr_write(mie, (1 << 1) | (1 << 3) | (1 << 5) | (1 << 7));
  *(volatile u32 *)0x2000000 = 1;
  *(volatile u64 *)0x2004000 = 0;
  __asm__ volatile("csrs mip, %0" ::"r"(2UL | 32UL));
  while (!(csr_read(mip) & 0x80)) {
  }
  __asm__ volatile("csrs mstatus, 8\n nop\n nop\n nop\n nop\n nop\n csrc mstatus, 8");
  return 0;
}
