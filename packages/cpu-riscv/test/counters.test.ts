/**
 * mcycle and minstret writes (privileged spec 3.1.11): the written value replaces the count, and later
 * reads (of the machine counters and of their cycle/instret shadows) count on from it. Reads here count
 * the reading instruction itself, as every read of these counters on this hart does. QEMU 7.2 derives
 * them from host time under TCG, so this checks our hart alone, on every engine.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { allocateRam, CPU_ENGINES, Hart, StopReason } from '../src/index.js';

const RAM_BASE = 0x8000_0000;
const csrrw = (csr: number, rd: number, rs1: number) =>
  (csr << 20) | (rs1 << 15) | (1 << 12) | (rd << 7) | 0x73;
const csrr = (csr: number, rd: number) => (csr << 20) | (2 << 12) | (rd << 7) | 0x73;
const NOP = 0x00000013;
const WFI = 0x10500073;
const [MCYCLE, MINSTRET, CYCLE, INSTRET] = [0xb00, 0xb02, 0xc00, 0xc02];

describe.each(CPU_ENGINES)('mcycle and minstret writes (%s)', (engine) => {
  it('replace the count; reads count on from the written value', () => {
    const size = 1 << 20;
    const ram = new Uint8Array(allocateRam(size, 1), 0, size);
    const program = [
      csrrw(MINSTRET, 0, 0), // csrw minstret, zero
      NOP,
      NOP,
      NOP,
      csrr(MINSTRET, 10), // a0
      csrrw(MCYCLE, 0, 5), // csrw mcycle, t0
      csrr(MCYCLE, 11), // a1
      csrr(CYCLE, 12), // a2
      csrr(INSTRET, 13), // a3
      WFI,
    ];
    const dv = new DataView(ram.buffer);
    program.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
    const bus: PhysicalBus = { read: () => 0, write: () => true };
    const h = new Hart({
      hartId: 0,
      ram: { base: RAM_BASE, size, buffer: ram.buffer },
      bus,
      time: () => 0,
      engine,
    });
    h.reset(RAM_BASE);
    // Some instructions retired before the program: the writes must not depend on the count being 0.
    h.instretCount = 123_456;
    h.setX(5, 0x1_2345_6789n);
    expect(h.run(100)).toBe(StopReason.Wfi);
    expect(h.getX(10)).toBe(4n);
    expect(h.getX(11)).toBe(0x1_2345_6789n + 1n);
    expect(h.getX(12)).toBe(0x1_2345_6789n + 2n);
    expect(h.getX(13)).toBe(8n);
    // The hart's own count (budgets, the machine's clock) is not changed by the writes.
    expect(h.instret).toBe(123_456 + program.length);
  });
});
