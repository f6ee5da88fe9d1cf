/**
 * mip.SEIP read-modify-write (privileged spec 3.1.9): it reads as the software bit OR the external
 * signal, but CSRRS/CSRRC modify only the software bit. QEMU agrees, but its bare-metal harness has no
 * PLIC to drive the signal, so this checks our hart alone. Before the fix, OpenSBI's `csrs mip, SSIP`
 * during an external interrupt latched SEIP and Linux took S-external interrupts forever.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { Hart, StopReason } from '../src/index.js';

const RAM_BASE = 0x8000_0000;
const SEIP = 1 << 9;
const SSIP = 1 << 1;
const T0 = 5 * 2;
const WFI = 0x10500073;
const csr = (f3: number) => (0x344 << 20) | (5 << 15) | (f3 << 12) | 0x73; // csrrX x0, mip, t0

function hartWith(words: number[]): Hart {
  const ram = new Uint8Array(1 << 20);
  const dv = new DataView(ram.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  const bus: PhysicalBus = { read: () => 0, write: () => true };
  const h = new Hart({
    hartId: 0,
    ram: { base: RAM_BASE, size: ram.length, buffer: ram.buffer },
    bus,
    time: () => 0,
  });
  h.reset(RAM_BASE);
  return h;
}

describe('mip.SEIP', () => {
  for (const [name, f3] of [
    ['CSRRS', 2],
    ['CSRRC', 3],
  ] as const) {
    it(`${name} on another bit while the PLIC asserts SEIP leaves the software SEIP clear`, () => {
      const h = hartWith([csr(f3), WFI]);
      h.setPending(9, true);
      h.x[T0] = f3 === 2 ? SSIP : 0;
      expect(h.run(10)).toBe(StopReason.Wfi);
      expect(h.mip() & SEIP).toBe(SEIP);
      h.setPending(9, false);
      expect(h.mip() & SEIP).toBe(0);
    });
  }

  it('CSRRS sets the software SEIP, which stays after the signal drops and reads back', () => {
    const h = hartWith([csr(2), WFI]);
    h.x[T0] = SEIP;
    h.setPending(9, true);
    h.run(10);
    h.setPending(9, false);
    expect(h.mip() & SEIP).toBe(SEIP);
  });
});
