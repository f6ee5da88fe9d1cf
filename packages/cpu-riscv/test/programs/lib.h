/* Tiny bare-metal support for the CPU test programs: UART output and CSR access. */
#pragma once
typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;

#define UART ((volatile unsigned char *)0x10000000)

/* Wait for THRE: QEMU's UART drops bytes written while its transmitter is busy. */
static inline void putc_(char c) {
  while (!(UART[5] & 0x20)) {
  }
  *UART = (unsigned char)c;
}
static inline void puts_(const char *s) { while (*s) putc_(*s++); }
static inline void puthex(u64 v) {
  for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}
static inline void kv(const char *k, u64 v) { puts_(k); putc_('='); puthex(v); putc_('\n'); }

#define csr_read(name) ({ u64 __v; __asm__ volatile("csrr %0, " #name : "=r"(__v)); __v; })
#define csr_write(name, v) __asm__ volatile("csrw " #name ", %0" ::"r"((u64)(v)))

/* An SBI call (S-mode, the host's SBI): extension, function, a0, a1; the error code (a0) back. */
static inline long sbi_call(long ext, long fid, long a0v, long a1v) {
  register long a0 __asm__("a0") = a0v;
  register long a1 __asm__("a1") = a1v;
  register long a6 __asm__("a6") = fid;
  register long a7 __asm__("a7") = ext;
  __asm__ volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
  return a0;
}
