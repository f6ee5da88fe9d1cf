/*
 * Control flow across pages, for the JIT's chaining (jit-dispatch.ts): functions on their own pages
 * called directly, through pointers and recursively, loops whose bodies straddle a page boundary, and
 * code that runs off the end of one page into the next. Prints checksums.
 */
#include "lib.h"

#define PAGE __attribute__((aligned(4096), noinline))

static u64 acc;

PAGE u64 f_add(u64 a, u64 b) { return a + b * 3; }
PAGE u64 f_mix(u64 a, u64 b) { return (a ^ (b << 7)) + (a >> 3); }
PAGE u64 f_rec(u64 n) { return n < 2 ? n : f_rec(n - 1) + f_rec(n - 2); }

/* A loop whose body is long enough to span a page boundary wherever the page starts. */
PAGE u64 f_long(u64 x, int n) {
	for (int i = 0; i < n; i++) {
#define S x = x * 6364136223846793005ul + 1442695040888963407ul; x ^= x >> 29;
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S S
		acc += x;
	}
	return x;
}

static u64 (*const ops[])(u64, u64) = {f_add, f_mix};

int main(void) {
	u64 s = 1;
	for (int i = 0; i < 3000; i++) s = ops[i & 1](s, (u64)i) ^ f_add(s, 7);
	kv("calls", s);
	kv("fib", f_rec(18));
	kv("long", f_long(12345, 400));
	kv("acc", acc);
	return 0;
}
