import { Ram, silentLogger } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { Eid, HartState, Sbi, SbiError, type SbiHart, type SbiHost } from '../src/riscv/sbi.js';

class FakeHart implements SbiHart {
  x = new Array<bigint>(32).fill(0n);
  pending = new Map<number, boolean>();
  tlbFlushes = 0;
  icacheFlushes = 0;
  getX(i: number) {
    return this.x[i];
  }
  setX(i: number, v: bigint) {
    this.x[i] = BigInt.asUintN(64, v);
  }
  setPending(bit: number, level: boolean) {
    this.pending.set(bit, level);
  }
  flushTlb() {
    this.tlbFlushes++;
  }
  flushICache() {
    this.icacheFlushes++;
  }
}

function setup(n = 2) {
  const harts = Array.from({ length: n }, () => new FakeHart());
  const ram = new Ram(0x80000000, 1 << 20);
  const out: number[] = [];
  const events: string[] = [];
  const timers = new Map<number, number>();
  const states = harts.map((_, i) => (i === 0 ? HartState.Started : HartState.Stopped));
  const input = [0x41, 0x42];
  const host: SbiHost = {
    harts,
    memory: ram,
    log: silentLogger,
    now: () => 1000,
    setTimer: (h, d) => void timers.set(h, d),
    hartState: (h) => states[h],
    startHart: (h, addr, opaque) => {
      states[h] = HartState.Started;
      events.push(`start ${h} ${addr.toString(16)} ${opaque}`);
    },
    stopHart: (h) => {
      states[h] = HartState.Stopped;
    },
    systemReset: (k, r) => void events.push(`${k} ${r}`),
    consoleWrite: (b) => void out.push(...b),
    consoleRead: (max) => new Uint8Array(input.splice(0, max)),
  };
  const sbi = new Sbi(host);
  const call = (h: number, eid: number, fid: number, ...args: bigint[]) => {
    const hart = harts[h];
    hart.x[17] = BigInt(eid);
    hart.x[16] = BigInt(fid);
    args.forEach((a, i) => (hart.x[10 + i] = BigInt.asUintN(64, a)));
    sbi.handle(h);
    return { err: BigInt.asIntN(64, hart.x[10]), val: hart.x[11] };
  };
  return { harts, ram, out, events, timers, call, states };
}

describe('host SBI', () => {
  it('BASE reports version 2.0 and probes extensions', () => {
    const { call } = setup();
    expect(call(0, Eid.Base, 0)).toEqual({ err: 0n, val: 2n << 24n });
    expect(call(0, Eid.Base, 3, BigInt(Eid.Hsm)).val).toBe(1n);
    expect(call(0, Eid.Base, 3, 0x12345n).val).toBe(0n);
    expect(call(0, Eid.Base, 99).err).toBe(SbiError.NotSupported);
    expect(call(0, 0x999999, 0).err).toBe(SbiError.NotSupported);
  });

  it('TIME arms the timer; U64_MAX disarms it', () => {
    const { call, timers } = setup();
    call(0, Eid.Time, 0, 5000n);
    expect(timers.get(0)).toBe(5000);
    call(0, Eid.Time, 0, -1n);
    expect(timers.get(0)).toBe(Infinity);
  });

  it('IPI sets SSIP on the selected harts and rejects harts that do not exist', () => {
    const { call, harts } = setup(3);
    expect(call(0, Eid.Ipi, 0, 0b110n, 0n).err).toBe(0n);
    expect([0, 1, 2].map((h) => harts[h].pending.get(1) ?? false)).toEqual([false, true, true]);
    expect(call(0, Eid.Ipi, 0, 0b1n, 5n).err).toBe(SbiError.InvalidParam);
    expect(call(0, Eid.Ipi, 0, 0n, -1n).err).toBe(0n);
    expect(harts[0].pending.get(1)).toBe(true);
  });

  it('RFENCE flushes the TLB and instruction cache of the selected harts', () => {
    const { call, harts } = setup(2);
    call(0, Eid.Rfence, 1, 0b10n, 0n);
    call(0, Eid.Rfence, 0, 0n, -1n);
    expect(harts.map((h) => [h.tlbFlushes, h.icacheFlushes])).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });

  it('HSM starts a stopped hart once, and checks its arguments', () => {
    const { call, events } = setup(2);
    expect(call(0, Eid.Hsm, 2, 1n).val).toBe(BigInt(HartState.Stopped));
    expect(call(0, Eid.Hsm, 0, 1n, 0x80010000n, 7n).err).toBe(0n);
    expect(events).toContain('start 1 80010000 7');
    expect(call(0, Eid.Hsm, 0, 1n, 0x80010000n, 7n).err).toBe(SbiError.AlreadyAvailable);
    expect(call(0, Eid.Hsm, 0, 9n, 0x80010000n, 0n).err).toBe(SbiError.InvalidParam);
    expect(call(0, Eid.Hsm, 2, 9n).err).toBe(SbiError.InvalidParam);
  });

  it('HSM refuses a start address outside RAM', () => {
    const { call } = setup(2);
    expect(call(0, Eid.Hsm, 0, 1n, 0x1000n, 0n).err).toBe(SbiError.InvalidAddress);
    expect(call(0, Eid.Hsm, 0, 1n, -8n, 0n).err).toBe(SbiError.InvalidAddress);
  });

  it('SRST powers off and reboots', () => {
    const { call, events } = setup();
    call(0, Eid.Srst, 0, 0n, 0n);
    call(0, Eid.Srst, 0, 1n, 0n);
    expect(call(0, Eid.Srst, 0, 77n, 0n).err).toBe(SbiError.InvalidParam);
    expect(events).toEqual(['shutdown 0', 'reboot 0']);
  });

  it('DBCN writes and reads guest memory within bounds only', () => {
    const { call, ram, out } = setup();
    ram.write(0x80001000, new TextEncoder().encode('hello'));
    expect(call(0, Eid.Dbcn, 0, 5n, 0x80001000n, 0n)).toEqual({ err: 0n, val: 5n });
    expect(String.fromCharCode(...out)).toBe('hello');
    expect(call(0, Eid.Dbcn, 0, 16n, 0x800ffff8n, 0n).err).toBe(SbiError.InvalidParam);
    expect(call(0, Eid.Dbcn, 0, 1n, 0n, 0xffffffffn).err).toBe(SbiError.InvalidParam);
    expect(call(0, Eid.Dbcn, 0, 1n << 40n, 0x80000000n, 0n).val).toBe(4096n); // capped, not allocated
    expect(call(0, Eid.Dbcn, 1, 8n, 0x80002000n, 0n)).toEqual({ err: 0n, val: 2n });
    expect([...ram.view(0x80002000, 2)!]).toEqual([0x41, 0x42]);
    call(0, Eid.Dbcn, 2, 0x21n);
    expect(out.at(-1)).toBe(0x21);
  });

  it('legacy console putchar and getchar', () => {
    const { call, out, harts } = setup();
    call(0, Eid.LegacyPutchar, 0, 0x58n);
    expect(out).toEqual([0x58]);
    call(0, Eid.LegacyGetchar, 0);
    expect(harts[0].x[10]).toBe(0x41n);
  });
});
