/* WARL fields: writable CSRs written with all ones, zero and alternating patterns and read back. Only the
   bits this hart's configuration defines are compared (QEMU 7.2's default CPU also has H, Svpbmt, Zicbo*,
   Sscofpmf and Sv57, which add bits to medeleg, mie, mip, menvcfg, senvcfg, mideleg and satp). Where QEMU
   departs from the spec the bits are masked too, and the README lists them: it keeps mepc[0]/sepc[0],
   keeps MPP=2, lets UXL be written, and keeps pmpaddr bits 63:54. */
#include "lib.h"

static volatile int traps;
u64 trap_handler(void) {
  u64 cause = csr_read(mcause), epc = csr_read(mepc);
  traps++;
  puts_("trap "), puthex(cause), putc_(' '), puthex(csr_read(mtval)), putc_('\n');
  csr_write(mepc, epc + (((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2));
  return 0;
}

#define PROBEM(name, v, mask)                                                                           \
  do {                                                                                                  \
    u64 old = csr_read(name);                                                                           \
    csr_write(name, (u64)(v));                                                                          \
    puts_(#name " "), puthex((u64)(v)), putc_(' '), puthex(csr_read(name) & (mask)), putc_('\n');       \
    csr_write(name, old);                                                                               \
  } while (0)
#define PROBE(name, v) PROBEM(name, v, ~0UL)
#define ALLM(name, mask)                                                                                \
  PROBEM(name, ~0UL, mask);                                                                             \
  PROBEM(name, 0, mask);                                                                                \
  PROBEM(name, 0x5555555555555555UL, mask);                                                             \
  PROBEM(name, 0xaaaaaaaaaaaaaaaaUL, mask)
#define BOTH(name) ALLM(name, ~0UL)

int main(void) {
  csr_write(pmpaddr0, ~0UL >> 10);
  csr_write(pmpcfg0, 0x1f);
  BOTH(mscratch); BOTH(sscratch); BOTH(mtval); BOTH(stval); BOTH(mcause); BOTH(scause);
  BOTH(mtvec); BOTH(stvec); ALLM(mepc, ~1UL); ALLM(sepc, ~1UL);
  ALLM(medeleg, 0xb3ffUL); ALLM(mie, 0xaaaUL); BOTH(sie);
  ALLM(mcounteren, 7); ALLM(scounteren, 7);
  ALLM(menvcfg, 1UL << 63);
  BOTH(fcsr); BOTH(frm); BOTH(fflags);
  PROBE(satp, 0); PROBE(satp, 0x5555555555555555UL);
  PROBE(satp, (8UL << 60) | 0x123456789aUL); PROBE(satp, (9UL << 60) | (0xffffUL << 44) | 0x123456789aUL);
  PROBE(mstatus, 0x8); PROBE(mstatus, 0x1800); PROBE(mstatus, 0x800); PROBE(mstatus, 0x6000);
  PROBE(mstatus, 0x7c0000UL); PROBE(mstatus, 0x8000000000000000UL); PROBE(mstatus, 0x1e00000UL);
  PROBEM(sstatus, ~0UL, ~0x300000600UL); PROBE(sstatus, 0);
  PROBEM(mip, ~0UL, 0xaaaUL); PROBE(sip, ~0UL);
  PROBEM(pmpaddr0, ~0UL, 0x3fffffffffffffUL); PROBEM(pmpaddr1, 0x5555555555555555UL, 0x3fffffffffffffUL); PROBE(pmpaddr15, 0x123);
  PROBE(pmpcfg0, ~0UL & ~0x8080808080808080UL); PROBE(pmpcfg0, 0x0102030405060708UL); PROBE(pmpcfg2, 0x1f1f1f1f1f1f1f1fUL);
  PROBE(pmpcfg0, 0x6060606060606060UL);
  kv("mtraps", traps);
  return 0;
}
