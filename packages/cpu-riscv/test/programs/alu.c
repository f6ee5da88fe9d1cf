/* Every RV64IM register-register and immediate operation over interesting operands; the printed results
   are compared with QEMU's. */
#include "lib.h"

#define R(op, a, b) ({ u64 __r; __asm__ volatile(op " %0, %1, %2" : "=r"(__r) : "r"(a), "r"(b)); __r; })
#define I(op, a, imm) ({ u64 __r; __asm__ volatile(op " %0, %1, " #imm : "=r"(__r) : "r"(a)); __r; })

static volatile u64 vals[] = {
  0, 1, 2, 3, 0xffffffffffffffffUL, 0x8000000000000000UL, 0x7fffffffffffffffUL, 0x80000000UL,
  0x7fffffffUL, 0xffffffffUL, 0xffffffff80000000UL, 0x123456789abcdef0UL, 0xfedcba9876543210UL,
  0x100000000UL, 0x5555555555555555UL, 63, 64, 31, 32, 0xdeadbeefUL, 0xffffffff7fffffffUL, 17, 0xfffffffffffffff9UL,
};
#define N (sizeof(vals) / sizeof(vals[0]))

int main(void) {
  u64 h = 0;
  for (unsigned i = 0; i < N; i++) {
    for (unsigned j = 0; j < N; j++) {
      u64 a = vals[i], b = vals[j];
      u64 r[] = {
        R("add", a, b), R("sub", a, b), R("sll", a, b), R("slt", a, b), R("sltu", a, b), R("xor", a, b),
        R("srl", a, b), R("sra", a, b), R("or", a, b), R("and", a, b), R("addw", a, b), R("subw", a, b),
        R("sllw", a, b), R("srlw", a, b), R("sraw", a, b), R("mul", a, b), R("mulh", a, b), R("mulhsu", a, b),
        R("mulhu", a, b), R("div", a, b), R("divu", a, b), R("rem", a, b), R("remu", a, b), R("mulw", a, b),
        R("divw", a, b), R("divuw", a, b), R("remw", a, b), R("remuw", a, b),
      };
      for (unsigned k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
        h = (h ^ r[k]) * 0x100000001b3UL;
        if (i % 5 == 0 && j % 3 == 0) puthex(r[k]), putc_(k % 7 == 6 ? '\n' : ' ');
      }
    }
    u64 a = vals[i];
    u64 r2[] = {
      I("addi", a, -2048), I("addi", a, 2047), I("slti", a, -1), I("sltiu", a, -1), I("xori", a, -1), I("ori", a, 0x555),
      I("andi", a, -16), I("slli", a, 63), I("srli", a, 63), I("srai", a, 63), I("slli", a, 1), I("srai", a, 33),
      I("addiw", a, -1), I("slliw", a, 31), I("srliw", a, 31), I("sraiw", a, 31), I("sraiw", a, 0),
    };
    for (unsigned k = 0; k < sizeof(r2) / sizeof(r2[0]); k++) {
      h = (h ^ r2[k]) * 0x100000001b3UL;
      puthex(r2[k]), putc_(k % 8 == 7 ? '\n' : ' ');
    }
    putc_('\n');
  }
  kv("hash", h);
  return 0;
}
