/*
 * For the JIT lockstep test with injected interrupts and faults (test/jit.test.ts): compiled-looking
 * code (calls across pages through pointers, loops) that takes machine software interrupts whenever the
 * test raises MSIP, and load access faults from a probe of an address where nothing is. The handler
 * counts both and skips the faulting load.
 */
#include "lib.h"

#define PAGE __attribute__((aligned(4096), noinline))
#define MSIP ((volatile u32 *)0x2000000)

static volatile u64 ticks, faults;

u64 trap_handler(void) {
	u64 cause = csr_read(mcause);
	if ((i64)cause < 0) {
		ticks++;
		*MSIP = 0;
		return 0;
	}
	faults++;
	csr_write(mepc, csr_read(mepc) + 4);
	return 0;
}

PAGE u64 g_add(u64 a, u64 b) { return a + b * 3; }
PAGE u64 g_mix(u64 a, u64 b) { return (a ^ (b << 7)) + (a >> 3); }

static u64 (*const ops[])(u64, u64) = {g_add, g_mix};

static u64 probe(u64 addr) {
	u64 v = 0;
	/* A 4-byte load, so that the handler's mepc + 4 skips exactly it. */
	__asm__ volatile(".option push\n.option norvc\nld %0, 0(%1)\n.option pop" : "+r"(v) : "r"(addr));
	return v;
}

int main(void) {
	csr_write(mie, 1 << 3);
	__asm__ volatile("csrs mstatus, 8");
	u64 s = 1;
	for (int i = 0; i < 30000; i++) {
		s = ops[i & 1](s, (u64)i) ^ g_add(s, 7);
		if ((i & 255) == 0) s += probe(0x40000000);
	}
	kv("s", s);
	kv("faults", faults);
	return 0;
}
