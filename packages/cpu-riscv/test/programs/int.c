/* RV64I, M and A details that alu.c and mem.c do not reach: every branch over signed/unsigned edge pairs
   (taken and not), JAL/JALR links and targets (JALR clears bit 0), LUI/AUIPC sign extension, writes to x0,
   loads with negative offsets, M corner cases with rd aliasing a source, every AMO width with aq/rl and rd
   = x0 or rd = rs2, and LR/SC pairs that must fail. */
#include "lib.h"

static u64 h;
static void out(u64 v) {
  h = (h ^ v) * 0x100000001b3UL;
  puthex(v);
  putc_(' ');
}

static volatile u64 vals[] = {0, 1, (u64)-1, 0x8000000000000000UL, 0x7fffffffffffffffUL, 0x80000000UL,
                              0xffffffff80000000UL, 0x7fffffffUL, 2, (u64)-2};
#define NV (sizeof(vals) / sizeof(vals[0]))

#define BR(op, a, b) ({ u64 __r; __asm__ volatile("li %0, 0\n " op " %1, %2, 1f\n li %0, 1\n 1:" : "=&r"(__r) : "r"(a), "r"(b)); __r; })

static volatile u64 buf[8] __attribute__((aligned(64)));

int main(void) {
  /* branches: one bit per (op, pair) */
  for (unsigned i = 0; i < NV; i++) {
    u64 bitsv = 0;
    for (unsigned j = 0; j < NV; j++) {
      u64 a = vals[i], b = vals[j];
      u64 r = BR("beq", a, b) | BR("bne", a, b) << 1 | BR("blt", a, b) << 2 | BR("bge", a, b) << 3 |
              BR("bltu", a, b) << 4 | BR("bgeu", a, b) << 5;
      bitsv = bitsv << 6 | r;
    }
    out(bitsv);
  }
  putc_('\n');
  /* backward branches and branch over a long distance */
  u64 n = 0;
  __asm__ volatile("li t0, 5\n 1: addi %0, %0, 3\n addi t0, t0, -1\n bnez t0, 1b" : "+r"(n)::"t0");
  out(n);
  __asm__ volatile("j 2f\n .skip 3000\n 2: li %0, 77" : "=r"(n));
  out(n);
  /* JAL / JALR: link is the next pc; JALR target clears bit 0; rd may equal rs1 */
  u64 link, here, tgt;
  __asm__ volatile("auipc %1, 0\n jal %0, 1f\n nop\n 1:" : "=r"(link), "=r"(here));
  out(link - here);
  __asm__ volatile("la %2, 1f + 1\n auipc %1, 0\n jalr %0, 0(%2)\n nop\n nop\n 1:" : "=r"(link), "=r"(here), "=&r"(tgt));
  out(link - here);
  __asm__ volatile("la %0, 1f\n jalr %0, 0(%0)\n 1: auipc %1, 0" : "=&r"(link), "=r"(here));
  out(here - link);
  __asm__ volatile("la t0, 1f - 8\n jalr x0, 8(t0)\n li %0, 1\n 1: li %0, 2" : "=r"(n)::"t0");
  out(n);
  __asm__ volatile("la t0, 1f + 16\n jalr x0, -16(t0)\n li %0, 1\n 1: li %0, 3" : "=r"(n)::"t0");
  out(n);
  /* LUI / AUIPC: 32-bit immediates sign-extend */
  __asm__ volatile("lui %0, 0x80000" : "=r"(n));
  out(n);
  __asm__ volatile("lui %0, 0x7ffff" : "=r"(n));
  out(n);
  __asm__ volatile("auipc %0, 0x80000\n auipc t0, 0\n sub %0, %0, t0" : "=r"(n)::"t0");
  out(n);
  /* x0 ignores writes from every kind of instruction */
  __asm__ volatile("addi x0, x0, 5\n lui x0, 1\n ld x0, 0(%1)\n amoadd.d x0, %2, (%1)\n csrr x0, mscratch\n mv %0, x0"
                   : "=r"(n) : "r"(buf), "r"(1UL) : "memory");
  out(n), out(buf[0]);
  putc_('\n');
  /* loads and stores with negative and maximal offsets */
  for (int i = 0; i < 8; i++) buf[i] = 0x8081828384858687UL + i * 0x0101010101010101UL;
  volatile unsigned char *p = (volatile unsigned char *)buf + 32;
  u64 l[7];
  __asm__ volatile("lb %0, -1(%7)\n lbu %1, -1(%7)\n lh %2, -2(%7)\n lhu %3, -2(%7)\n lw %4, -4(%7)\n lwu %5, -4(%7)\n ld %6, -8(%7)"
                   : "=&r"(l[0]), "=&r"(l[1]), "=&r"(l[2]), "=&r"(l[3]), "=&r"(l[4]), "=&r"(l[5]), "=&r"(l[6])
                   : "r"(p));
  for (int i = 0; i < 7; i++) out(l[i]);
  __asm__ volatile("addi t0, %0, 2047\n sb zero, -2047(t0)\n addi t0, %0, -2045\n sh zero, 2047(t0)" ::"r"(p) : "t0", "memory");
  out(buf[4]);
  putc_('\n');
  /* M: rd aliasing a source, and the architecturally defined corner cases */
  u64 a = (u64)-7;
  __asm__ volatile("mulh %0, %0, %0" : "+r"(a));
  out(a);
  a = 0x8000000000000000UL;
  __asm__ volatile("div %0, %0, %1" : "+r"(a) : "r"((u64)-1));
  out(a);
  a = 0xffffffff80000000UL;
  __asm__ volatile("divw %0, %0, %1" : "+r"(a) : "r"((u64)-1));
  out(a);
  a = 0x0000000580000000UL;
  __asm__ volatile("remw %0, %0, %1" : "+r"(a) : "r"(0xffffffffUL));
  out(a);
  a = 0x123;
  __asm__ volatile("remuw %0, %0, zero" : "+r"(a));
  out(a);
  a = 0xfffffffe00000007UL;
  __asm__ volatile("divuw %0, %0, zero" : "+r"(a));
  out(a);
  a = 0xfffffffe00000007UL;
  __asm__ volatile("mulw %0, %0, %0" : "+r"(a));
  out(a);
  putc_('\n');
  /* A: every width and ordering; rd = x0; rd = rs2 */
  volatile u64 *d = buf;
  volatile u32 *w = (volatile u32 *)(buf + 1);
  *d = 10, *w = 0xfffffff0;
  u64 r[12];
  __asm__ volatile("amoadd.d.aq %0, %2, (%3)\n amoadd.w.rl %1, %2, (%4)" : "=&r"(r[0]), "=&r"(r[1]) : "r"(5UL), "r"(d), "r"(w) : "memory");
  __asm__ volatile("amoswap.d.aqrl %0, %1, (%2)" : "=&r"(r[2]) : "r"(0x55UL), "r"(d) : "memory");
  __asm__ volatile("amoor.w.aqrl x0, %0, (%1)" ::"r"(0x100UL), "r"(w) : "memory");
  r[3] = 7;
  __asm__ volatile("amoxor.d %0, %0, (%1)" : "+r"(r[3]) : "r"(d) : "memory");
  r[4] = 0x80000000;
  __asm__ volatile("amomaxu.w %0, %0, (%1)" : "+r"(r[4]) : "r"(w) : "memory");
  r[5] = 0x7fffffff;
  __asm__ volatile("amomin.w.aq %0, %0, (%1)" : "+r"(r[5]) : "r"(w) : "memory");
  __asm__ volatile("amoand.d.rl %0, %1, (%2)" : "=&r"(r[6]) : "r"(0xf0UL), "r"(d) : "memory");
  for (int i = 0; i < 7; i++) out(r[i]);
  out(*d), out(*w);
  /* LR/SC: success; SC without a reservation; SC to another address; SC after the value changed;
     lr.w sign-extends and sc.w writes 32 bits */
  u64 t, s1, s2, s3, s4;
  *d = 42;
  __asm__ volatile("lr.d.aq %0, (%2)\n sc.d.rl %1, %3, (%2)" : "=&r"(t), "=&r"(s1) : "r"(d), "r"(43UL) : "memory");
  __asm__ volatile("sc.d %0, %2, (%1)" : "=&r"(s2) : "r"(d), "r"(44UL) : "memory");
  __asm__ volatile("lr.d %0, (%2)\n sc.d %1, %3, (%4)" : "=&r"(t), "=&r"(s3) : "r"(d), "r"(45UL), "r"(d + 2) : "memory");
  __asm__ volatile("lr.d %0, (%2)\n sd %3, 0(%2)\n sc.d %1, %4, (%2)" : "=&r"(t), "=&r"(s4) : "r"(d), "r"(99UL), "r"(46UL) : "memory");
  out(s1), out(s2), out(s3), out(s4), out(*d), out(d[2]);
  *w = 0x80000001;
  __asm__ volatile("lr.w %0, (%2)\n sc.w %1, %3, (%2)" : "=&r"(t), "=&r"(s1) : "r"(w), "r"(0x1234567887654321UL) : "memory");
  out(t), out(s1), out(*w), out(buf[1]);
  putc_('\n');
  /* Compressed control transfers: c.j, c.jr, c.jalr (link = pc + 2), c.beqz/c.bnez both ways and directions */
  u64 c1, c2, c3;
  __asm__ volatile(".option push\n .option rvc\n li %0, 0\n li %1, 0\n"
                   "c.j 1f\n c.addi %0, 1\n 1: c.addi %0, 2\n"
                   "la t0, 2f\n c.jr t0\n c.addi %0, 4\n 2: c.addi %0, 8\n"
                   "la t0, 3f\n auipc t1, 0\n c.jalr t0\n c.addi %0, 16\n 3: sub %1, ra, t1\n"
                   "li a0, 0\n c.beqz a0, 4f\n c.addi %0, 17\n 4: c.bnez a0, 5f\n c.addi %0, 29\n"
                   "5: li a0, 3\n 6: c.addi %0, 1\n c.addi a0, -1\n c.bnez a0, 6b\n c.beqz a0, 7f\n c.addi %0, 1\n 7:\n"
                   "li %2, 0\n la a1, 8f\n c.mv t0, a1\n c.jr t0\n c.li %2, 1\n 8: c.addi %2, 2\n"
                   ".option pop"
                   : "=&r"(c1), "=&r"(c2), "=&r"(c3)::"t0", "t1", "a0", "a1", "ra");
  out(c1), out(c2), out(c3);
  putc_('\n');
  /* FENCE variants and FENCE.I are no-ops here */
  __asm__ volatile("fence\n fence rw, rw\n fence.tso\n fence.i\n fence iorw, iorw");
  kv("hash", h);
  return 0;
}
