/*
 * For the JIT's compiled CSR instructions (test/jit.test.ts): a hot loop that masks and restores
 * interrupts around a critical section as a kernel's locks do (csrrci/csrs mstatus.MIE), writes and
 * reads mscratch, reads minstret, mcycle and time, toggles mstatus.SUM (a change of the data-access mode
 * compiled code must not run on under) and every 64th iteration reads a CSR that does not exist (an
 * illegal instruction the handler skips). The test raises MSIP at random run boundaries: an interrupt
 * raised inside the critical section is taken right after the instruction that unmasks it.
 */
#include "lib.h"

#define MSIP ((volatile u32 *)0x2000000)

static volatile u64 ticks, illegal;

u64 trap_handler(void) {
	u64 cause = csr_read(mcause);
	if ((i64)cause < 0) {
		ticks++;
		*MSIP = 0;
		return 0;
	}
	illegal++;
	csr_write(mepc, csr_read(mepc) + 4);
	return 0;
}

int main(void) {
	csr_write(mie, 1 << 3);
	__asm__ volatile("csrs mstatus, 8");
	u64 s = 1, sum = 0;
	for (int i = 0; i < 20000; i++) {
		u64 m;
		__asm__ volatile("csrrci %0, mstatus, 8" : "=r"(m));
		s = s * 6364136223846793005UL + 1442695040888963407UL;
		csr_write(mscratch, s);
		sum += csr_read(mscratch) >> 7;
		__asm__ volatile("csrs mstatus, %0" ::"r"(m & 8));
		sum += csr_read(minstret) & 0xff;
		sum ^= csr_read(mcycle) & 0xf;
		sum += csr_read(time);
		if ((i & 15) == 0) {
			__asm__ volatile("csrs mstatus, %0" ::"r"(1UL << 18));
			sum += s & 3;
			__asm__ volatile("csrc mstatus, %0" ::"r"(1UL << 18));
		}
		if ((i & 63) == 0) {
			u64 v = 0;
			__asm__ volatile("csrr %0, 0x7c0" : "+r"(v));
			sum += v;
		}
	}
	kv("sum", sum);
	kv("ticks", ticks);
	kv("illegal", illegal);
	return 0;
}
