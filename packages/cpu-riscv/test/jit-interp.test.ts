/**
 * The JIT's interpreter in wasm (jit-interp.ts), with nothing compiled (a threshold no position reaches)
 * and with regions compiled around it: in lockstep with the reference executor at every run boundary,
 * interrupts and faults injected, CSR instructions through the host call.
 */
import { describe, expect, it } from 'vitest';
import { hostStats } from '../src/jit-host.js';
import { HS_INTERP_ENTRIES, HS_IO } from '../src/memory.js';
import { lockstepWithInterrupts } from './lockstep.js';

const NEVER = 65535;

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
});
