/* Privileged behaviour beyond priv.c: the six CSR instructions, read-only and missing CSRs, counters and
   their U/S gating by mcounteren/scounteren, trap delegation (medeleg/mideleg) to an S-mode handler,
   xRET state changes and MPRV, TSR/TW/TVM, interrupt priority with the CLINT's MSIP and MTIP, vectored
   mtvec, WFI with and without enabled interrupts, and the Sstc supervisor timer. Every trap is printed. */
#include "lib.h"

#define MAGIC 0x5a5a
#define CLINT_MSIP ((volatile u32 *)0x2000000)
#define CLINT_MTIMECMP ((volatile u64 *)0x2004000)
#define CLINT_MTIME ((volatile u64 *)0x200bff8)

volatile u64 continuation, saved_sp;
static volatile int mtraps, straps, stce_on, stimer_hits;

static inline unsigned inst_len(u64 epc) { return ((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2; }

static void line(const char *who, u64 cause, u64 tval, u64 extra) {
  puts_(who), putc_(' '), puthex(cause), putc_(' '), puthex(tval), putc_(' '), puthex(extra), putc_('\n');
}

/* Clear the source of an interrupt so it is taken once. */
static void quiet(u64 irq) {
  if (irq == 3) *CLINT_MSIP = 0;
  if (irq == 7) *CLINT_MTIMECMP = ~0UL;
  if (irq == 1) __asm__ volatile("csrc mip, %0" ::"r"(2UL));
  if (irq == 5) __asm__ volatile("csrc mip, %0" ::"r"(32UL));
}

u64 trap_handler(void) {
  u64 cause = csr_read(mcause), tval = csr_read(mtval), epc = csr_read(mepc), st = csr_read(mstatus);
  u64 a7;
  __asm__ volatile("mv %0, a7" : "=r"(a7));
  mtraps++;
  line("M", cause, tval, st & 0x21988); /* MPRV, MPP, MPIE, SPP, MIE */
  if (cause >> 63) {
    quiet(cause & 63);
    return 0;
  }
  if ((cause == 8 || cause == 9 || cause == 11) && a7 == MAGIC) {
    csr_write(mepc, continuation);
    __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 11));
    return 0;
  }
  csr_write(mepc, epc + inst_len(epc));
  return 0;
}

/* S-mode handler for delegated traps; an ECALL(MAGIC) from U goes on to M to end the U code. */
__attribute__((interrupt("supervisor"), aligned(4))) void s_handler(void) {
  u64 cause = csr_read(scause), tval = csr_read(stval), epc = csr_read(sepc), st = csr_read(sstatus);
  u64 a7;
  __asm__ volatile("mv %0, a7" : "=r"(a7));
  straps++;
  line("S", cause, tval, st & 0x122); /* SPP, SPIE, SIE */
  if (cause >> 63) {
    if ((cause & 63) == 5) {
      __asm__ volatile("csrw stimecmp, %0" ::"r"(~0UL));
      stimer_hits++;
    }
    if ((cause & 63) == 1) __asm__ volatile("csrc sip, %0" ::"r"(2UL));
    return;
  }
  if (cause == 8 && a7 == MAGIC) __asm__ volatile("li a7, %0\n ecall" ::"i"(MAGIC));
  csr_write(sepc, epc + inst_len(epc));
}

/* Run fn in `mode` (0 U, 1 S, 3 M via MPP); fn ends with ecall(MAGIC), whose M handler resumes at the
   continuation, where sp and the callee-saved registers come back. */
extern void run_in(u64 mode, void (*fn)(void));
__asm__(".globl run_in\n run_in:\n addi sp, sp, -112\n sd ra, 0(sp)\n sd s0, 8(sp)\n sd s1, 16(sp)\n"
        " sd s2, 24(sp)\n sd s3, 32(sp)\n sd s4, 40(sp)\n sd s5, 48(sp)\n sd s6, 56(sp)\n sd s7, 64(sp)\n"
        " sd s8, 72(sp)\n sd s9, 80(sp)\n sd s10, 88(sp)\n sd s11, 96(sp)\n"
        " la t0, saved_sp\n sd sp, 0(t0)\n la t0, 1f\n la t1, continuation\n sd t0, 0(t1)\n"
        " li t0, 0x1800\n csrc mstatus, t0\n slli t1, a0, 11\n csrs mstatus, t1\n csrw mepc, a1\n mret\n"
        "1: la t0, saved_sp\n ld sp, 0(t0)\n ld ra, 0(sp)\n ld s0, 8(sp)\n ld s1, 16(sp)\n ld s2, 24(sp)\n"
        " ld s3, 32(sp)\n ld s4, 40(sp)\n ld s5, 48(sp)\n ld s6, 56(sp)\n ld s7, 64(sp)\n ld s8, 72(sp)\n"
        " ld s9, 80(sp)\n ld s10, 88(sp)\n ld s11, 96(sp)\n addi sp, sp, 112\n ret\n");

#define BACK() __asm__ volatile("li a7, %0\n ecall" ::"i"(MAGIC) : "a7")

static void csr_instructions(void) {
  u64 r[12];
  csr_write(mscratch, 0xf0f0);
  __asm__ volatile("csrrw %0, mscratch, %1" : "=r"(r[0]) : "r"(0x1234UL));
  __asm__ volatile("csrrs %0, mscratch, %1" : "=r"(r[1]) : "r"(0xff00UL));
  __asm__ volatile("csrrc %0, mscratch, %1" : "=r"(r[2]) : "r"(0x0ff0UL));
  __asm__ volatile("csrrwi %0, mscratch, 0x1f" : "=r"(r[3]));
  __asm__ volatile("csrrsi %0, mscratch, 0x10" : "=r"(r[4]));
  __asm__ volatile("csrrci %0, mscratch, 0x3" : "=r"(r[5]));
  __asm__ volatile("csrrs %0, mscratch, x0" : "=r"(r[6]));
  __asm__ volatile("csrrw x0, mscratch, %0" ::"r"(~0UL));
  __asm__ volatile("csrrci %0, mscratch, 0" : "=r"(r[7]));
  __asm__ volatile("csrrc %0, mscratch, %1" : "=r"(r[8]) : "r"(0x8000000000000001UL));
  r[9] = csr_read(mscratch);
  for (int i = 0; i < 10; i++) puthex(r[i]), putc_(' ');
  putc_('\n');
  /* Read-only CSRs: reads (and CSRRS/C with x0 or uimm 0) work, any write traps. */
  __asm__ volatile("csrr %0, mhartid\n csrrs x0, mvendorid, x0\n csrrsi x0, misa, 0\n csrrci x0, mimpid, 0" : "=r"(r[0]));
  kv("mhartid", r[0]);
  __asm__ volatile("csrw mhartid, zero");
  __asm__ volatile("csrrw x0, cycle, x0");
  __asm__ volatile("csrrs x0, instret, %0" ::"r"(1UL));
  __asm__ volatile("csrrci x0, time, 1");
  __asm__ volatile("csrrwi x0, marchid, 0");
  /* CSRs that do not exist here */
  __asm__ volatile("csrr t0, 0x7c0" ::: "t0");
  __asm__ volatile("csrr t0, 0x3a1" ::: "t0"); /* pmpcfg1 is RV32 only */
  __asm__ volatile("csrr t0, 0x3a3" ::: "t0");
  __asm__ volatile("csrr t0, 0x5c0" ::: "t0");
  __asm__ volatile("csrr t0, 0x105" ::: "t0"); /* stvec exists */
  /* Some illegal instruction encodings and their tval */
  __asm__ volatile(".word 0x0000000b");        /* custom-0 */
  __asm__ volatile(".word 0xffffffff");
  __asm__ volatile(".word 0x00002073");        /* csrrs x0, ustatus(0) */
  __asm__ volatile(".word 0x10300073");        /* reserved SYSTEM funct12 */
  __asm__ volatile(".word 0x00004073");        /* SYSTEM funct3 4 */
  __asm__ volatile(".word 0x0000f00f");        /* MISC-MEM funct3 7 */
  __asm__ volatile(".word 0x0000703b");        /* OP-32 funct3 7 */
  __asm__ volatile(".word 0x4000503b | (1 << 25)"); /* OP-32 bad funct7 */
  __asm__ volatile(".word 0x02001013");        /* slli with bit 25 set is fine on RV64 */
  __asm__ volatile(".word 0x0400101b");        /* slliw with shamt[5] set */
  __asm__ volatile(".word 0x0000301b");        /* OP-IMM-32 funct3 3 */
  __asm__ volatile(".word 0x18002073 | (1 << 15)"); /* csrrs x0, satp, x1: legal in M */
  __asm__ volatile(".word 0x1000202f");        /* lr.w with rs2 != 0 -> illegal */
  __asm__ volatile(".word 0x0000402f");        /* AMO funct3 4 */
  __asm__ volatile(".word 0x4800302f");        /* AMO funct5 0x09 */
  kv("mtraps", mtraps);
}

static void u_counters(void) {
  u64 v;
  __asm__ volatile("csrr %0, cycle" : "=r"(v));
  __asm__ volatile("csrr %0, time" : "=r"(v));
  __asm__ volatile("csrr %0, instret" : "=r"(v));
  (void)v;
  BACK();
}

static void counters(void) {
  u64 c0 = csr_read(cycle), i0 = csr_read(instret), t0 = csr_read(time);
  u64 c1 = csr_read(mcycle), i1 = csr_read(minstret), t1 = csr_read(time);
  kv("monotonic", (c1 >= c0) + 2 * (i1 > i0) + 4 * (t1 >= t0));
  /* Every combination of mcounteren and scounteren, read from U and S */
  for (int m = 0; m < 8; m += 7) {
    for (int s = 0; s < 8; s += 5) {
      csr_write(mcounteren, m);
      csr_write(scounteren, s);
      kv("mcounteren", csr_read(mcounteren) & 7), kv("scounteren", csr_read(scounteren) & 7);
      run_in(0, u_counters);
      run_in(1, u_counters);
    }
  }
  csr_write(mcounteren, 7);
  csr_write(scounteren, 0);
}

static void u_traps(void) {
  __asm__ volatile(".word 0");
  __asm__ volatile("ebreak");
  __asm__ volatile("csrr t0, sstatus" ::: "t0");
  __asm__ volatile("wfi");
  __asm__ volatile("sret");
  __asm__ volatile("mret");
  __asm__ volatile("ld t0, 0(%0)" ::"r"(0x0a000000UL) : "t0");
  BACK();
}

static void s_traps(void) {
  __asm__ volatile(".word 0");
  __asm__ volatile("ebreak");
  __asm__ volatile("csrr t0, mstatus" ::: "t0");
  __asm__ volatile("csrr t0, sstatus" ::: "t0");
  __asm__ volatile("mret");
  __asm__ volatile("li a7, 1\n ecall" ::: "a7"); /* ECALL from S: not delegated */
  BACK();
}

static volatile int tw_set;
static void s_tsr_tw_tvm(void) {
  __asm__ volatile("csrr t0, satp" ::: "t0");
  __asm__ volatile("sfence.vma");
  if (tw_set) __asm__ volatile("wfi"); /* without TW it could wait forever */
  __asm__ volatile("la t0, 1f\n csrw sepc, t0\n li t0, 0x100\n csrs sstatus, t0\n sret\n 1:" ::: "t0");
  BACK();
}

static void delegation(void) {
  csr_write(stvec, (u64)s_handler);
  /* Nothing delegated: all of U's and S's traps go to M */
  run_in(0, u_traps);
  run_in(1, s_traps);
  /* Delegate illegal instruction, breakpoint, ECALL from U, load access fault */
  csr_write(medeleg, (1 << 2) | (1 << 3) | (1 << 8) | (1 << 5));
  kv("medeleg", csr_read(medeleg));
  run_in(0, u_traps);
  run_in(1, s_traps);
  /* M-mode traps are never delegated */
  __asm__ volatile(".word 0");
  csr_write(medeleg, ~0UL);
  kv("medeleg", csr_read(medeleg) & 0xb3ff); /* bits 10, 11, 14 and above are WARL: QEMU keeps some */
  csr_write(medeleg, (1 << 8));
  /* TSR, TW, TVM for S-mode */
  __asm__ volatile("csrs mstatus, %0" ::"r"((1UL << 20) | (1UL << 21) | (1UL << 22)));
  tw_set = 1;
  run_in(1, s_tsr_tw_tvm);
  __asm__ volatile("csrc mstatus, %0" ::"r"((1UL << 20) | (1UL << 21) | (1UL << 22)));
  tw_set = 0;
  run_in(1, s_tsr_tw_tvm);
  kv("straps", straps);
}

static void xret_states(void) {
  u64 a, b, c;
  /* MRET to M with MPRV set keeps MPRV; MPP becomes U; MPIE becomes 1; MIE gets MPIE */
  __asm__ volatile("li t0, 0x1800\n csrs mstatus, t0\n li t0, 0x20080\n csrs mstatus, t0\n"
                   "la t0, 1f\n csrw mepc, t0\n mret\n 1: csrr %0, mstatus\n"
                   "li t0, 0x20000\n csrc mstatus, t0\n csrc mstatus, 8"
                   : "=r"(a)::"t0");
  kv("after mret to M", a & 0x21988);
  /* An SRET from M: SPP=S returns to S (then ECALL back), SPIE -> SIE, SPP -> U. (It also clears MPRV,
     which QEMU 7.2 does not: see hart.test.ts.) */
  __asm__ volatile("la t0, 1f\n sd t0, 0(%1)\n sd sp, 0(%2)\n li t0, 0x120\n csrs mstatus, t0\n"
                   "la t0, 2f\n csrw sepc, t0\n sret\n 2: csrr %0, sstatus\n li a7, %3\n ecall\n 1: ld sp, 0(%2)\n"
                   : "=&r"(b)
                   : "r"(&continuation), "r"(&saved_sp), "i"(MAGIC)
                   : "t0", "a7", "memory");
  kv("sstatus in S after sret", b & 0x122);
  c = csr_read(mstatus);
  kv("mstatus after", c & 0x221aa);
  __asm__ volatile("csrc mstatus, %0" ::"r"(0x122UL));
  /* mepc/sepc: with C, bit 1 is kept (bit 0 reads as zero, which QEMU 7.2 does not do: hart.test.ts) */
  csr_write(mepc, 0x80001002UL);
  csr_write(sepc, ~1UL);
  kv("mepc", csr_read(mepc)), kv("sepc", csr_read(sepc));
}

static volatile u64 mprv_word = 0x77;

static void mprv(void) {
  /* Bare translation: MPRV with MPP=U reads memory as U would (allowed by the PMP rule) */
  u64 v;
  __asm__ volatile("li t0, 0x20000\n csrs mstatus, t0\n li t0, 0x1800\n csrc mstatus, t0\n ld %0, 0(%1)\n"
                   "li t0, 0x20000\n csrc mstatus, t0"
                   : "=r"(v) : "r"(&mprv_word) : "t0");
  kv("mprv load", v);
  /* a fetch is not affected by MPRV */
  __asm__ volatile("li t0, 0x20000\n csrs mstatus, t0\n nop\n nop\n csrc mstatus, t0" ::: "t0");
}

static volatile u64 vec_hits;
extern char vec_table[];
__asm__(".balign 256\n .option push\n .option norvc\n vec_table:\n"
        "j vec_exc\n j vec_bad\n j vec_bad\n j vec_msi\n j vec_bad\n j vec_bad\n j vec_bad\n j vec_mti\n"
        "j vec_bad\n j vec_bad\n j vec_bad\n j vec_bad\n"
        "vec_bad: li t6, 0xbad\n 1: j 1b\n"
        "vec_exc: csrw mscratch, t0\n csrr t0, mepc\n addi t0, t0, 4\n csrw mepc, t0\n la t0, vec_hits\n"
        "  ld t6, 0(t0)\n addi t6, t6, 1\n sd t6, 0(t0)\n csrr t0, mscratch\n mret\n"
        "vec_msi: csrw mscratch, t6\n csrw sscratch, t5\n li t6, 0x2000000\n sw zero, 0(t6)\n la t6, vec_hits\n"
        "  ld t5, 0(t6)\n addi t5, t5, 0x100\n sd t5, 0(t6)\n csrr t6, mscratch\n csrr t5, sscratch\n mret\n"
        "vec_mti: csrw mscratch, t6\n csrw sscratch, t5\n li t6, 0x2004000\n li t5, -1\n sd t5, 0(t6)\n la t6, vec_hits\n"
        "  ld t5, 0(t6)\n addi t5, t5, 0x400\n sd t5, 0(t6)\n csrr t6, mscratch\n csrr t5, sscratch\n mret\n .option pop\n");

static void interrupts(void) {
  u64 st = csr_read(mip);
  kv("mip at start", st);
  /* MSI, MTI, SSI and STI pending together, one enabled at a time, none delegated. (Taken together they
     must come in the order MSI, MTI, SSI, STI; QEMU 7.2 takes the lowest number first: hart.test.ts.) */
  *CLINT_MSIP = 1;
  *CLINT_MTIMECMP = 0;
  __asm__ volatile("csrs mip, %0" ::"r"(2UL | 32UL));
  while (!(csr_read(mip) & 0x80)) {
  }
  kv("mip pending", csr_read(mip));
  for (int irq = 1; irq < 8; irq += 2) {
    csr_write(mie, 1UL << irq);
    __asm__ volatile("csrs mstatus, 8\n nop\n nop\n csrc mstatus, 8");
  }
  kv("mip after", csr_read(mip));
  /* WFI with an enabled pending interrupt but MIE clear: continues without a trap */
  csr_write(mie, 1 << 3);
  *CLINT_MSIP = 1;
  __asm__ volatile("wfi");
  kv("wfi returned, msip", (csr_read(mip) >> 3) & 1);
  __asm__ volatile("csrs mstatus, 8\n nop\n csrc mstatus, 8");
  /* The timer in the future: WFI waits for it */
  *CLINT_MTIMECMP = *CLINT_MTIME + 2000;
  csr_write(mie, 1 << 7);
  __asm__ volatile("csrs mstatus, 8\n wfi\n nop\n csrc mstatus, 8");
  /* Delegated SSIP taken by S while in U (SIE does not matter below S) */
  csr_write(mideleg, (1 << 1) | (1 << 5));
  kv("mideleg", csr_read(mideleg) & 0x222); /* QEMU's H extension adds read-only VS bits */
  csr_write(mie, (1 << 1) | (1 << 5));
  kv("sie", csr_read(sie));
  __asm__ volatile("csrs mip, %0" ::"r"(2UL));
  kv("sip", csr_read(sip));
  run_in(0, u_counters);
  /* Vectored mtvec: exceptions at base, interrupt n at base + 4n */
  csr_write(mideleg, 0);
  u64 old_mtvec = csr_read(mtvec);
  csr_write(mtvec, (u64)vec_table | 1);
  kv("mtvec", csr_read(mtvec) - (u64)vec_table);
  __asm__ volatile(".option push\n .option norvc\n ebreak\n .option pop");
  csr_write(mie, (1 << 3) | (1 << 7));
  *CLINT_MSIP = 1;
  __asm__ volatile("csrs mstatus, 8\n nop\n csrc mstatus, 8");
  *CLINT_MTIMECMP = 0;
  while (!(csr_read(mip) & 0x80)) {
  }
  __asm__ volatile("csrs mstatus, 8\n nop\n csrc mstatus, 8");
  csr_write(mtvec, old_mtvec);
  kv("vector hits", vec_hits);
  csr_write(mie, 0);
}

static void s_timer(void) {
  u64 t;
  __asm__ volatile("csrr %0, time" : "=r"(t));
  __asm__ volatile("csrw stimecmp, %0" ::"r"(t + 1500));
  if (stce_on) {
    __asm__ volatile("csrs sstatus, 2");
    while (!stimer_hits) __asm__ volatile("wfi");
    __asm__ volatile("csrc sstatus, 2");
  }
  BACK();
}

static void sstc(void) {
  /* Without menvcfg.STCE, stimecmp is not accessible from S */
  csr_write(mideleg, 1 << 5);
  csr_write(mie, 1 << 5);
  csr_write(mcounteren, 7);
  run_in(1, s_timer);
  __asm__ volatile("csrs menvcfg, %0" ::"r"(1UL << 63));
  kv("menvcfg.stce", csr_read(menvcfg) >> 63);
  stce_on = 1;
  run_in(1, s_timer);
  kv("stip", (csr_read(mip) >> 5) & 1);
  __asm__ volatile("csrc menvcfg, %0" ::"r"(1UL << 63));
  csr_write(mie, 0);
  csr_write(mideleg, 0);
}

int main(void) {
  csr_write(pmpaddr0, ~0UL >> 10);
  csr_write(pmpcfg0, 0x1f);
  csr_instructions();
  counters();
  delegation();
  xret_states();
  mprv();
  interrupts();
  sstc();
  kv("mtraps", mtraps);
  kv("straps", straps);
  return 0;
}
