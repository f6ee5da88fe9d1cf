/**
 * A program that executes every 16-bit encoding that is not a jump or branch — all the ALU, load/store
 * and FP load/store forms, their HINTs, and every reserved encoding (which must trap) — for the
 * differential test against QEMU. Encodings are classified here from the quadrant and funct3 fields only
 * (not from rvc.ts, which is what is under test).
 *
 * The encodings run in blocks from a random register state. sp always points at a scratch area, so the
 * sp-relative forms touch only it; a register-based load/store gets its base register set to sp first;
 * anything that writes sp is followed by a reload of sp. A trap handler without memory accesses folds
 * mcause and mtval into mscratch and skips the 2-byte instruction. After each block, C code prints a hash
 * of the integer and FP registers, the scratch area and mscratch.
 */

const BLOCK = 64;

/** Whether encoding c (low two bits != 3) is a control transfer, handled by the directed tests instead. */
function isControl(c: number): boolean {
  const op = c & 3;
  const f3 = c >>> 13;
  if (op === 1) return f3 === 5 || f3 === 6 || f3 === 7; // c.j, c.beqz, c.bnez
  if (op === 2 && f3 === 4) {
    const rd = (c >>> 7) & 31;
    const rs2 = (c >>> 2) & 31;
    // c.jr (rd != 0) and c.jalr (rd != 0): rs2 = 0; c.jr with rd = 0 is reserved and stays in.
    return rs2 === 0 && rd !== 0;
  }
  return false;
}

/** Lines of assembly that run encoding c (the n-th) with its preconditions and postconditions. */
function emit(c: number, n: number): string[] {
  const op = c & 3;
  const f3 = c >>> 13;
  const lines: string[] = [];
  // Q0 loads and stores take a base in rs1' (bits 9:7).
  const base = op === 0 && f3 !== 0 && f3 !== 4 ? 8 + ((c >>> 7) & 7) : 0;
  if (base) lines.push(`mv x${base}, sp`);
  lines.push(`.half 0x${c.toString(16)}`);
  // Anything whose rd field names sp may have changed it (c.addi16sp, c.addi/c.li/c.mv/c.add/c.slli/c.lwsp
  // /c.ldsp into x2, c.addiw sp): put it back.
  const rd = (c >>> 7) & 31;
  if (op !== 0 && rd === 2) lines.push('csrr sp, sepc');
  // A checkpoint: a 4-byte EBREAK whose handler folds every register into the running hash, so each
  // encoding's result is seen before the next one can overwrite it.
  lines.push('.option push', '.option norvc', 'ebreak', '.option pop');
  // The base register gets a random value again (from the part of the scratch area no store reaches),
  // so the ALU encodings keep seeing random operands.
  if (base) lines.push(`ld x${base}, ${512 + 8 * (n % 64)}(sp)`);
  return lines;
}

/** Every tested encoding, in a fixed shuffled order so each block mixes operations and registers. */
export function rvcEncodings(): number[] {
  const out: number[] = [];
  for (let c = 0; c < 0x10000; c++) if ((c & 3) !== 3 && !isControl(c)) out.push(c);
  let s = 0x2545f491;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The C source of the program (the blocks are top-level assembly). */
export function rvcProgram(): string {
  const encs = rvcEncodings();
  const blocks: string[] = [];
  const names: string[] = [];
  for (let b = 0; b * BLOCK < encs.length; b++) {
    const name = `rvc_block_${b}`;
    names.push(name);
    const body = encs.slice(b * BLOCK, (b + 1) * BLOCK).flatMap((c, i) => emit(c, b * BLOCK + i));
    blocks.push(
      [`.globl ${name}`, `${name}:`, 'sd ra, 1032(a0)', 'jal ra, rvc_enter', ...body, 'j rvc_leave'].join(
        '\n',
      ),
    );
  }
  const asm = [
    '.text',
    '.balign 4',
    // a0 = state: x in [0], f in [256], x out [512], f out [768], saved C registers [1024], scratch [2048]
    'rvc_enter:',
    'sd sp, 1024(a0)',
    ...['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 'gp', 'tp'].map(
      (r, i) => `sd ${r}, ${1048 + 8 * i}(a0)`,
    ),
    'addi t0, a0, 2047',
    'addi t0, t0, 1',
    'csrw sepc, t0',
    ...Array.from({ length: 32 }, (_, i) => `fld f${i}, ${256 + 8 * i}(a0)`),
    // Every register but ra (the body's address) and a0 (the state) starts random.
    ...Array.from({ length: 32 }, (_, i) => i)
      .filter((i) => i !== 0 && i !== 1 && i !== 2 && i !== 10)
      .map((i) => `ld x${i}, ${8 * i}(a0)`),
    'csrw mscratch, zero',
    'csrr sp, sepc',
    'jr ra',
    'rvc_leave:',
    'csrr sp, sepc',
    ...Array.from({ length: 32 }, (_, i) => i)
      .filter((i) => i !== 0 && i !== 2)
      .map((i) => `sd x${i}, ${-2048 + 512 + 8 * i}(sp)`),
    ...Array.from({ length: 32 }, (_, i) => `fsd f${i}, ${-2048 + 768 + 8 * i}(sp)`),
    ...['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 'gp', 'tp'].map(
      (r, i) => `ld ${r}, ${-2048 + 1048 + 8 * i}(sp)`,
    ),
    `ld ra, ${-2048 + 1032}(sp)`,
    `ld sp, ${-2048 + 1024}(sp)`,
    'ret',
    // Traps fold into mscratch without touching the stack: a 4-byte EBREAK is a checkpoint that folds
    // every register (h = rotl(h, 7) + x); anything else is a compressed encoding that trapped (illegal,
    // or C.EBREAK) and folds its cause and tval, then is skipped.
    '.balign 4',
    'rvc_trap:',
    'csrw sscratch, t0',
    'csrw stval, t1',
    'csrr t0, mepc',
    'lhu t1, 0(t0)',
    'andi t1, t1, 3',
    'addi t1, t1, -3',
    'bnez t1, 1f',
    'csrr t0, mscratch',
    ...Array.from({ length: 31 }, (_, k) => k + 1).flatMap((i) => [
      'slli t1, t0, 7',
      'srli t0, t0, 57',
      'or t0, t0, t1',
      ...(i === 5 ? ['csrr t1, sscratch'] : i === 6 ? ['csrr t1, stval'] : []),
      `add t0, t0, ${i === 5 || i === 6 ? 't1' : `x${i}`}`,
    ]),
    ...Array.from({ length: 32 }, (_, i) => [
      'slli t1, t0, 7',
      'srli t0, t0, 57',
      'or t0, t0, t1',
      `fmv.x.d t1, f${i}`,
      'add t0, t0, t1',
    ]).flat(),
    'csrw mscratch, t0',
    'csrr t0, mepc',
    'addi t0, t0, 4',
    'j 2f',
    '1:',
    'csrr t0, mscratch',
    'slli t1, t0, 7',
    'srli t0, t0, 57',
    'or t0, t0, t1',
    'csrr t1, mtval',
    'xor t0, t0, t1',
    'csrr t1, mcause',
    'add t0, t0, t1',
    'csrw mscratch, t0',
    'csrr t0, mepc',
    'addi t0, t0, 2',
    '2:',
    'csrw mepc, t0',
    'csrr t0, sscratch',
    'csrr t1, stval',
    'mret',
    ...blocks,
  ];
  return `#include "lib.h"
__asm__(${asm.map((l) => JSON.stringify(l + '\n')).join('\n  ')});
${names.map((n) => `extern void ${n}(u64 *state);`).join('\n')}
static void (*const blocks[])(u64 *) = {${names.join(', ')}};
extern char rvc_trap[];
static u64 state[512] __attribute__((aligned(64)));

int main(void) {
  u64 seed = 0x9e3779b97f4a7c15UL;
  csr_write(mtvec, (u64)rvc_trap);
  for (unsigned b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
    for (int i = 0; i < 384; i++) {
      if (i == 64) i = 256; /* registers in, then the scratch area */
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      state[i] = (i & 7) == 3 ? seed & 0xfff : (i & 7) == 5 ? (u64)(long)(int)seed : seed;
    }
    for (int i = 32; i < 64; i += 3) state[i] |= 0xffffffff00000000UL; /* some boxed singles */
    blocks[b](state);
    u64 h = csr_read(mscratch);
    for (int i = 64; i < 384; i++) {
      if (i == 128) i = 256; /* registers out, then the scratch area */
      h = (h ^ state[i]) * 0x100000001b3UL;
    }
    puthex(b), putc_(' '), puthex(h), putc_('\\n');
  }
  return 0;
}
`;
}
