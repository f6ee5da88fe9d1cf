/* Virtual memory: Sv39 and Sv48 with 4K pages and every superpage size, hardware A/D updates, each kind of
   page fault (invalid, reserved W-without-R, permissions, U/SUM/MXR, non-canonical addresses, misaligned
   superpages, a non-leaf last level), MPRV with paging, sfence.vma after a PTE
   change, accesses and fetches that straddle into an unmapped page, and fence.i after self-modifying
   code. Every trap is printed with cause, tval and the mode it came from. */
#include "lib.h"

#define MAGIC 0x5a5a
volatile u64 continuation, saved_sp;
static volatile int traps;

static inline unsigned inst_len(u64 epc) { return ((*(volatile unsigned short *)epc) & 3) == 3 ? 4 : 2; }

u64 trap_handler(void) {
  u64 cause = csr_read(mcause), tval = csr_read(mtval), epc = csr_read(mepc), st = csr_read(mstatus);
  u64 a7;
  __asm__ volatile("mv %0, a7" : "=r"(a7));
  traps++;
  puts_("trap "), puthex(cause), putc_(' '), puthex(tval), putc_(' '), puthex((st >> 11) & 3), putc_('\n');
  if (((cause == 8 || cause == 9) && a7 == MAGIC) || cause == 12 || cause == 1) {
    csr_write(mepc, continuation); /* back to M (a fetch fault gives up on that code) */
    __asm__ volatile("csrs mstatus, %0" ::"r"(3UL << 11));
    return 0;
  }
  /* A load or store fault: skip it. epc may be a virtual address: read the instruction through the
     identity or the U alias mapping, whichever epc is (both map RAM). */
  csr_write(mepc, epc + inst_len(epc >= 0x100000000UL && epc < 0x140000000UL ? epc - 0x80000000UL : epc));
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

/* Page tables: the root maps RAM at 0x80000000 (gigapage, RWX, not U) and an alias of RAM at 0x100000000
   with U set (so U code runs from the alias); test mappings hang below them. */
static u64 root[512] __attribute__((aligned(4096)));
static u64 l1[512] __attribute__((aligned(4096)));
static u64 l0[512] __attribute__((aligned(4096)));
static u64 root48[512] __attribute__((aligned(4096)));
static u64 l2_48[512] __attribute__((aligned(4096)));
static volatile u64 page_a[512] __attribute__((aligned(4096)));
static volatile u64 page_b[512] __attribute__((aligned(4096)));
static volatile u64 mega[2][512 * 512] __attribute__((aligned(2 << 20)));
static volatile u64 out[64];

#define PTE(pa, flags) ((((u64)(pa)) >> 12) << 10 | (flags))
#define V 1
#define R 2
#define W 4
#define X 8
#define U 16
#define G 32
#define A 64
#define D 128
#define UALIAS(p) ((u64)(p) + 0x80000000UL)
#define VA(i, j) (0x40000000UL + ((u64)(i) << 21) + ((u64)(j) << 12)) /* through l1[i] then l0[j] */

static void flush(void) { __asm__ volatile("sfence.vma" ::: "memory"); }

/* S-mode: one load or store per step; out[k] records loads (0xdead when the load faulted). */
#define LOAD(k, va) __asm__ volatile("li t0, 0xdead\n ld t0, 0(%1)\n sd t0, 0(%0)" ::"r"(&out[k]), "r"(va) : "t0", "memory")
#define STORE(va, v) __asm__ volatile("sd %1, 0(%0)" ::"r"(va), "r"((u64)(v)) : "memory")
#define BACK() __asm__ volatile("li a7, %0\n ecall" ::"i"(MAGIC) : "a7")

static void s_sv39(void) {
  LOAD(0, VA(0, 0));                   /* 4K page, no A: walk sets A */
  STORE(VA(0, 0) + 8, 0x11);           /* sets D */
  LOAD(1, VA(0, 1));                   /* read-only */
  STORE(VA(0, 1), 0x12);               /* store page fault */
  LOAD(2, VA(0, 2));                   /* execute-only: fault without MXR */
  __asm__ volatile("csrs sstatus, %0" ::"r"(1UL << 19));
  LOAD(3, VA(0, 2));                   /* with MXR */
  __asm__ volatile("csrc sstatus, %0" ::"r"(1UL << 19));
  LOAD(4, VA(0, 3));                   /* W without R: reserved */
  LOAD(5, VA(0, 4));                   /* invalid */
  LOAD(6, VA(0, 5));                   /* U page from S without SUM */
  STORE(VA(0, 5), 0x13);
  __asm__ volatile("csrs sstatus, %0" ::"r"(1UL << 18));
  LOAD(7, VA(0, 5));                   /* with SUM */
  STORE(VA(0, 5) + 16, 0x14);
  __asm__ volatile("csrc sstatus, %0" ::"r"(1UL << 18));
  LOAD(8, VA(0, 6));                   /* a non-leaf PTE at level 0 */
  LOAD(9, VA(1, 0) + 0x1238);          /* megapage */
  STORE(VA(1, 3) + 8, 0x15);           /* megapage, sets D on the level-1 leaf */
  LOAD(10, VA(2, 0));                  /* misaligned megapage */
  LOAD(11, 0xc0000000UL + 0x10);       /* gigapage at root[3] */
  LOAD(12, 0x4000000000UL);            /* non-canonical: bit 38 set, upper bits clear */
  LOAD(13, 0xffffffc000000000UL + VA(0, 0)); /* canonical negative address, unmapped */
  LOAD(14, VA(0, 7));                  /* reserved high PTE bits */
  /* (A table outside RAM must give an access fault; QEMU 7.2 gives a page fault: see spec.c.) */
  LOAD(16, VA(0, 9) + 0xffc);          /* misaligned load straddling into an unmapped page */
  STORE(VA(0, 9) + 0xffe, 0x1234567890abcdefUL); /* misaligned store straddling: nothing written */
  LOAD(17, VA(0, 10) + 0xff9);         /* straddling two mapped pages */
  LOAD(18, VA(0, 14) + 0xffa);         /* straddling into an unmapped page */
  LOAD(19, VA(0, 15) + 0xffc);         /* straddling from an unmapped page */
  BACK();
}

static void s_exec(void) {
  /* jump to an execute-only page holding "li a0, 42; ecall(MAGIC)" */
  __asm__ volatile("li a7, %1\n jalr %0" ::"r"(VA(0, 2)), "i"(MAGIC) : "a0", "a7", "ra");
}
static void s_exec_nx(void) { __asm__ volatile("jalr %0" ::"r"(VA(0, 0)) : "ra"); } /* not executable */
static void s_exec_u(void) { __asm__ volatile("jalr %0" ::"r"(VA(0, 5)) : "ra"); } /* U page from S */
static void s_exec_straddle(void) { __asm__ volatile("jalr %0" ::"r"(VA(0, 11) + 0xffe) : "ra"); }
static void s_exec_noncanon(void) { __asm__ volatile("jalr %0" ::"r"(0x8000000000UL) : "ra"); }

/* U code runs from the U alias of RAM and must not touch the stack. */
__attribute__((naked)) static void u_code(void) {
  __asm__ volatile("li t1, %0\n ld t0, 0(t1)\n"          /* U page: fine */
                   "li t1, %1\n ld t0, 0(t1)\n"          /* S page: fault */
                   "li t1, %2\n sd t0, 0(t1)\n"          /* U read-only page: store fault */
                   "li a7, %3\n ecall" ::"i"(VA(0, 5)),
                   "i"(VA(0, 0)), "i"(VA(0, 12)), "i"(MAGIC));
}

#define MEGA1 ((u64)mega[1] - 0x80000000UL)
static void s_sv48(void) {
  LOAD(20, 0x8000000000UL + MEGA1);    /* through root48[1] and l2_48: a gigapage */
  LOAD(21, 0x10000000000UL + MEGA1 + 8); /* the same through root48[2] */
  LOAD(22, 0x800000000000UL);          /* non-canonical for Sv48 */
  LOAD(23, 0xffff800000000000UL);      /* canonical, unmapped */
  LOAD(24, 0x0000400000000000UL);      /* index 128 of the root: invalid */
  LOAD(25, 0x18000000000UL);           /* misaligned 512G page */
  BACK();
}

static void s_sfence(void) {
  LOAD(30, VA(0, 13));
  BACK();
}

/* All in S-mode (going back to M changes MPP, which flushes our TLB anyway): a 2M page's 4K page 7 is
   cached, the PTE moves the 2M page, and sfence.vma of its first address must drop page 7 too. */
static void s_sfence_mega(void) {
  LOAD(33, VA(3, 7));
  LOAD(35, VA(0, 14));
  l0[14] = PTE(page_b, V | R | A);
  __asm__ volatile("sfence.vma %0, zero" ::"r"(VA(0, 14)) : "memory");
  LOAD(34, VA(0, 14));
  l1[3] = PTE(mega[1], V | R | A);
  __asm__ volatile("sfence.vma %0, zero" ::"r"(VA(3, 0)) : "memory");
  LOAD(32, VA(3, 7));
  BACK();
}

int main(void) {
  csr_write(pmpaddr0, ~0UL >> 10);
  csr_write(pmpcfg0, 0x1f);
  for (int i = 0; i < 512; i++) page_a[i] = 0xa000 + i, page_b[i] = 0xb000 + i;
  mega[0][0x1238 / 8] = 0x3e6a;
  /* execute-only page content: li a0, 42; ecall */
  static const u32 code[] = {0x02a00513, 0x00000073};
  volatile u32 *pb = (volatile u32 *)page_b;
  pb[0] = code[0], pb[1] = code[1];
  ((volatile unsigned short *)page_b)[2047] = 0x0513; /* the low half of a 32-bit instruction at the end */
  __asm__ volatile("fence.i");

  root[2] = PTE(0x80000000UL, V | R | W | X | A | D);
  root[3] = PTE(0x80000000UL, V | R | A);
  root[4] = PTE(0x80000000UL, V | R | W | X | U | A | D); /* the U alias at 0x100000000 */
  root[1] = PTE(l1, V);
  l1[0] = PTE(l0, V);
  l1[1] = PTE(mega[0], V | R | W); /* no A/D: set by the walk */
  l1[2] = PTE((u64)mega[0] + 0x1000, V | R | A);
  l0[0] = PTE(page_a, V | R | W);
  l0[1] = PTE(page_a, V | R | A);
  l0[2] = PTE(page_b, V | X | A);
  l0[3] = PTE(page_a, V | W | A);
  l0[4] = PTE(page_a, R | A);
  l0[5] = PTE(page_b, V | R | W | U | A);
  l0[6] = PTE(page_a, V);
  l0[7] = PTE(page_a, V | R | A) | (1UL << 60);
  l1[0x1ff] = 0;
  l0[9] = PTE(page_a, V | R | W | A | D);
  l0[10] = PTE(page_a, V | R | A);
  l0[11] = PTE(page_b, V | R | X | A);
  l0[12] = PTE(page_a, V | R | U | A);
  l0[13] = PTE(page_a, V | R | A);
  l0[14] = PTE(page_b, V | R | A);
  l0[16] = PTE(page_a, V | R | A);
  csr_write(satp, (8UL << 60) | ((u64)root >> 12));
  flush();
  run_in(1, (u64)s_sv39);
  kv("pte a", l0[0]), kv("pte ro", l0[1]), kv("pte su", l0[5]), kv("pte mega", l1[1]), kv("pte giga", root[3]);
  kv("page_a[1]", page_a[1]), kv("page_b[0..2]", page_b[2]), kv("mega", mega[0][(3 << 9) + 1]);
  kv("page_a[511]", page_a[511]);
  for (int i = 0; i < 20; i++) kv("out", out[i]);
  /* fetches */
  run_in(1, (u64)s_exec);
  run_in(1, (u64)s_exec_nx);
  run_in(1, (u64)s_exec_u);
  run_in(1, (u64)s_exec_straddle);
  run_in(1, (u64)s_exec_noncanon);
  run_in(0, UALIAS(u_code));
  /* MPRV: M-mode loads and stores as S (and as U) through the page tables */
  u64 v1, v2;
  __asm__ volatile("li t0, 0x20800\n csrs mstatus, t0\n li t0, 0x1000\n csrc mstatus, t0\n"
                   "ld %0, 0(%2)\n sd %0, 0(%3)\n li t0, 0x20800\n csrc mstatus, t0\n"
                   "li t0, 0x20000\n csrs mstatus, t0\n ld %1, 0(%4)\n ld %1, 0(%2)\n li t0, 0x20000\n csrc mstatus, t0\n"
                   "li t0, 0x1800\n csrs mstatus, t0"
                   : "=&r"(v1), "=&r"(v2)
                   : "r"(VA(0, 0)), "r"(VA(0, 1)), "r"(VA(0, 5))
                   : "t0", "memory");
  kv("mprv", v1), kv("mprv u", v2);
  /* sfence.vma: the same VA maps to another page after the PTE changes */
  run_in(1, (u64)s_sfence);
  l0[13] = PTE(page_b, V | R | A);
  __asm__ volatile("sfence.vma %0, zero" ::"r"(VA(0, 13)) : "memory");
  out[31] = out[30];
  run_in(1, (u64)s_sfence);
  kv("before", out[31]), kv("after", out[30]);
  /* sfence.vma of a 2M page's first address also drops what was cached for its other 4K pages */
  mega[0][7 * 512] = 0x5a11, mega[1][7 * 512] = 0x5b22;
  l1[3] = PTE(mega[0], V | R | A);
  l0[14] = PTE(page_a, V | R | A);
  page_a[0] = 0x7a7a, page_b[0] = 0x7b7b;
  flush();
  run_in(1, (u64)s_sfence_mega);
  kv("mega before", out[33]), kv("mega after", out[32]), kv("4k before", out[35]), kv("4k after", out[34]);
  /* Sv48 */
  root48[0] = PTE(0x0, V | R | W | X | A | D); /* a 512G identity page covers RAM for the S code */
  root48[1] = PTE(l2_48, V);
  root48[2] = PTE(l2_48, V);
  l2_48[0] = PTE(0x80000000UL, V | R | A); /* a gigapage */
  root48[3] = PTE(0x80000000UL, V | R | A); /* a misaligned 512G page */
  csr_write(satp, (9UL << 60) | ((u64)root48 >> 12));
  flush();
  kv("satp mode", csr_read(satp) >> 60);
  mega[1][0] = 0x4818;
  mega[1][1] = 0x4828;
  run_in(1, (u64)s_sv48);
  for (int i = 20; i < 26; i++) kv("out", out[i]);
  /* unsupported modes leave satp alone */
  csr_write(satp, (5UL << 60) | 123);
  kv("satp mode", csr_read(satp) >> 60);
  csr_write(satp, 0);
  flush();
  /* fence.i after self-modifying code */
  static u32 smc[4] __attribute__((aligned(16)));
  smc[0] = 0x00100513; /* li a0, 1 */
  smc[1] = 0x00008067; /* ret */
  __asm__ volatile("fence.i");
  u64 r1 = ((u64(*)(void))smc)();
  smc[0] = 0x00200513; /* li a0, 2 */
  __asm__ volatile("fence.i");
  u64 r2 = ((u64(*)(void))smc)();
  kv("smc", r1 * 16 + r2);
  kv("traps", traps);
  return 0;
}
