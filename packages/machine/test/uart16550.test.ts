import { describe, expect, it } from 'vitest';
import { Uart16550 } from '../src/platform/uart16550.js';

describe('UART 16550', () => {
  it('mirrors LSR into a shared word: data ready follows input and reads, reset and restore', () => {
    const out: number[] = [];
    const irq = {
      level: false,
      set(l: boolean) {
        this.level = l;
      },
    };
    const u = new Uart16550(irq, (b) => out.push(b));
    const cells = new Int32Array(new SharedArrayBuffer(8));
    u.shareLsr(cells, 1);
    expect(cells[1]).toBe(0x60); // transmitter empty, nothing received
    u.input(new Uint8Array([0x41, 0x42]));
    expect(cells[1]).toBe(0x61);
    expect(u.read(5, 1)).toBe(cells[1]);
    expect(u.read(0, 1)).toBe(0x41);
    expect(cells[1]).toBe(0x61);
    const saved = u.saveState();
    expect(u.read(0, 1)).toBe(0x42);
    expect(cells[1]).toBe(0x60);
    u.restoreState(saved);
    expect(cells[1]).toBe(0x61);
    u.reset();
    expect(cells[1]).toBe(0x60);
    expect(cells[0]).toBe(0);
    expect(() => u.shareLsr(cells, 2)).toThrow(RangeError);
  });
});
