/**
 * The JIT's interpreter in wasm (jit-interp.ts), with nothing compiled (a threshold no position reaches)
 * and with regions compiled around it: in lockstep with the reference executor at every run boundary,
 * interrupts and faults injected, CSR instructions through the host call.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostStats } from '../src/jit-host.js';
import { HS_INTERP_ENTRIES, HS_IO } from '../src/memory.js';
import { build } from './harness.js';
import { lockstepWithInterrupts, machine, runTogether } from './lockstep.js';

const NEVER = 65535;

/**
 * A reserved SYSTEM encoding (funct3 4, with a CSR number and rs1 as a CSR instruction has them) in
 * straight-line code the interpreter runs: it must trap as illegal, not reach the CSR host call.
 */
const RESERVED = `
    .text
    .globl main
main:
    li s1, 0
    li t0, 50
1:  addi t0, t0, -1
    .word 0x3400c073
    bnez t0, 1b
    li a0, 0
    ret
    .globl trap_handler
trap_handler:
    csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    addi s1, s1, 1
    ret
`;

describe('the interpreter in wasm', () => {
  it('runs a program alone, with interrupts and faults injected, in lockstep with the reference', () => {
    const { jit, ref, interrupts } = lockstepWithInterrupts('inject.c', 777, 4, 3000, NEVER);
    expect(jit.out()).toBe(ref.out());
    expect(jit.out()).toContain('faults=0000000000000076');
    expect(interrupts).toBeGreaterThan(50);
    const jc = jit.hart.dcache.jit!;
    expect(jc.compiles).toBe(0);
    expect(jc.interps).toBeGreaterThan(1000);
  }, 120_000);

  it('runs CSR instructions as host calls, with exact instret, traps and mode changes', () => {
    const calls = hostStats.calls;
    const { jit, ref } = lockstepWithInterrupts('csr.c', 5, 3, 2000, NEVER);
    expect(jit.out()).toBe(ref.out());
    expect(jit.out()).toContain('illegal=0000000000000139');
    expect(jit.hart.dcache.jit!.compiles).toBe(0);
    expect(hostStats.calls - calls).toBeGreaterThan(100_000);
  }, 120_000);

  it('hands over to compiled regions and back (a threshold of 16), in lockstep', () => {
    const { jit, ref } = lockstepWithInterrupts('inject.c', 4242, 5, 5000, 16);
    expect(jit.out()).toBe(ref.out());
    const jc = jit.hart.dcache.jit!;
    expect(jc.compiles).toBeGreaterThan(5);
    expect(jc.interps).toBeGreaterThan(100);
    // The interpreter enters the regions it meets itself (through the dispatcher, in wasm).
    expect(jit.hart.jitIo[(HS_INTERP_ENTRIES - HS_IO) / 4]).toBeGreaterThan(100);
  }, 120_000);

  it('hands a reserved SYSTEM encoding back, to trap as illegal, in lockstep with the reference', () => {
    const image = new Uint8Array(readFileSync(build('reserved.S', { text: RESERVED, ext: 'S' })));
    const jit = machine(image, 'jit', false, true, NEVER);
    const ref = machine(image, 'reference');
    runTogether(jit, ref, 20_000, 300);
    expect(jit.hart.x[2 * 9]).toBe(50); // s1: every one trapped
    expect(jit.hart.dcache.jit!.interps).toBeGreaterThan(10);
  }, 60_000);
});
