import { describe, expect, it } from 'vitest';
import { RiscvMap } from '../src/memory-map.js';
import { postedStores, registerCellCount, registersFor, sharedRegisters } from '../src/riscv/threads.js';

describe('registers shared with hart workers', () => {
  it('InterruptStatus and LSR are load-only, ACK clears, PLIC enable stores keep only real sources, claims are taken', () => {
    const cells = new Int32Array(new SharedArrayBuffer(4 * registerCellCount(2)));
    const mirrored: number[] = [];
    const plic = {
      enableWords: Math.ceil((RiscvMap.plicSources + 1) / 32),
      shareEnables: (_c: Int32Array, at: number) => void mirrored.push(at),
      shareClaims: (_c: Int32Array, at: number) => void offered.push(at),
    };
    const offered: number[] = [];
    let lsrAt = -1;
    const list = sharedRegisters(2, cells, plic, { shareLsr: (_c, i) => (lsrAt = i) });
    const at = (addr: number) => list.find((r) => r.addr === addr)!;
    const isPlic = (r: { addr: number }) =>
      r.addr >= RiscvMap.plic.base && r.addr < RiscvMap.plic.base + RiscvMap.plic.size;
    const slot1 = RiscvMap.virtio.base + RiscvMap.virtio.slotSize;
    expect(at(slot1 + 0x060)).toEqual({ addr: slot1 + 0x060, cell: 1, readOnly: true });
    expect(at(slot1 + 0x064)).toEqual({ addr: slot1 + 0x064, cell: 1, clear: true });
    expect(at(RiscvMap.uart.base + 5)).toMatchObject({ cell: lsrAt, width: 1, readOnly: true });
    expect(mirrored).toEqual([lsrAt + 1]);
    const en0 = at(RiscvMap.plic.base + 0x2000);
    expect(en0.mask! & 1).toBe(0); // source 0 does not exist
    const last = at(RiscvMap.plic.base + 0x2000 + 4 * (plic.enableWords - 1));
    expect(last.mask).toBe((2 ** ((RiscvMap.plicSources % 32) + 1) - 1) | 0);
    // Contexts of both harts, every word, their claims, and nothing outside the cells.
    expect(list.filter(isPlic).length).toBe(4 * plic.enableWords + 4);
    expect(offered).toEqual([lsrAt + 1 + 4 * plic.enableWords]);
    // Hart 1's S context (3): its SEIP lowered as a claim is taken; its M context (2) MEIP.
    const claim = (ctx: number) => at(RiscvMap.plic.base + 0x20_0000 + 0x1000 * ctx + 4);
    expect(claim(3)).toEqual({ addr: claim(3).addr, cell: offered[0] + 3, readOnly: true, take: 9 });
    expect(claim(2).take).toBe(11);
    // Each worker takes only its own hart's claims; another hart's go through the main thread.
    const takes = (h: number) =>
      registersFor(h, list)
        .filter((r) => r.take !== undefined)
        .map((r) => r.cell);
    expect(takes(0)).toEqual([offered[0], offered[0] + 1]);
    expect(takes(1)).toEqual([offered[0] + 2, offered[0] + 3]);
    expect(registersFor(1, list).length).toBe(list.length - 2);
    expect(Math.max(...list.map((r) => r.cell))).toBeLessThan(cells.length);
    // A PLIC part that cannot mirror keeps its enables on the mailbox.
    expect(sharedRegisters(2, cells, {}).some(isPlic)).toBe(false);
    expect(postedStores(2).find((r) => r.base === RiscvMap.uart.base)).toMatchObject({ offset: 0, width: 1 });
  });
});
