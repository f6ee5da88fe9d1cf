/**
 * The run loop, SBI plumbing, interrupts and power paths of RiscvMachine, driven by scripted harts (no
 * real CPU): each fake hart plays a list of steps as if it were a guest.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BusDevice, DtNode, InterruptLine } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../src/index.js';
import { nodeModuleLoader } from '../src/node.js';
import { RiscvMachine } from '../src/riscv/machine.js';
import {
  Mip,
  StopReason,
  type ClockPart,
  type HartPart,
  type HartSink,
  type RiscvParts,
} from '../src/riscv/parts.js';
import { Eid } from '../src/riscv/sbi.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

type Step =
  | { sbi: [eid: number, fid: number, ...args: bigint[]]; expectA0?: bigint }
  | { wfiUntil: number } // wait until this mip bit is pending
  | { run: number }; // burn instructions

class ScriptedHart implements HartPart {
  pc = 0;
  instret = 0;
  timerDeadline = Infinity;
  x = new Array<bigint>(32).fill(0n);
  mip = 0;
  resets: number[] = [];
  log: string[] = [];
  private i = 0;
  constructor(private readonly script: Step[]) {}
  getX(i: number) {
    return this.x[i];
  }
  setX(i: number, v: bigint) {
    this.x[i] = BigInt.asUintN(64, v);
  }
  setPending(bit: number, level: boolean) {
    this.mip = level ? this.mip | (1 << bit) : this.mip & ~(1 << bit);
  }
  flushTlb() {}
  flushICache() {}
  clearReservation() {}
  reset(pc: number) {
    this.pc = pc;
    this.i = 0;
    this.resets.push(pc);
  }
  run(budget: number): number {
    const s = this.script[this.i];
    if (!s) return StopReason.Wfi; // idle forever
    if ('run' in s) {
      this.instret += Math.min(budget, s.run);
      this.i++;
      return StopReason.Budget;
    }
    if ('wfiUntil' in s) {
      if (this.mip & (1 << s.wfiUntil)) {
        this.log.push(`woke by ${s.wfiUntil}`);
        this.i++;
        return StopReason.Budget;
      }
      return StopReason.Wfi;
    }
    const [eid, fid, ...args] = s.sbi;
    this.x[17] = BigInt(eid);
    this.x[16] = BigInt(fid);
    args.forEach((a, k) => (this.x[10 + k] = BigInt.asUintN(64, a)));
    this.i++;
    this.instret++;
    return StopReason.Sbi;
  }
}

class FakeClock implements ClockPart {
  t = 0;
  deterministic = true;
  now() {
    return this.t;
  }
  advance(n: number) {
    this.t += n;
  }
  skipTo(tick: number) {
    if (tick > this.t) this.t = tick;
  }
}

const dev = (name: string): BusDevice & { describe(): DtNode } => ({
  name,
  size: 0x1000,
  read: () => 0,
  write() {},
  reset() {},
  describe: () => ({ name, props: {} }),
});

function parts(scripts: Step[][]): RiscvParts & { harts: ScriptedHart[]; lines: Map<number, boolean> } {
  const harts: ScriptedHart[] = [];
  const lines = new Map<number, boolean>();
  let plicSinks: readonly HartSink[] = [];
  return {
    harts,
    lines,
    isaExtensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei'],
    mmuType: 'riscv,sv39',
    createHart: ({ hartId }) => {
      const h = new ScriptedHart(scripts[hartId]);
      harts.push(h);
      return h;
    },
    createPlic: ({ harts: sinks }) => {
      plicSinks = sinks;
      return {
        ...dev('plic'),
        // A one-line PLIC: any raised source interrupts hart 0 in S-mode.
        line: (n: number): InterruptLine => ({
          set: (l) => {
            lines.set(n, l);
            plicSinks[0].setPending(Mip.SEIP, [...lines.values()].some(Boolean));
          },
        }),
      };
    },
    createClint: () => ({ ...dev('clint'), update() {}, nextDeadline: () => Infinity }),
    createClock: () => new FakeClock(),
  };
}

/** A fake RISC-V Image: just a valid header. */
function image(): Uint8Array {
  const img = new Uint8Array(8192);
  const dv = new DataView(img.buffer);
  dv.setUint32(8, 0x200000, true);
  dv.setUint32(16, 0x10000, true);
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 48);
  dv.setUint32(56, 0x05435352, true);
  return img;
}

async function machine(scripts: Step[][], extra: Record<string, unknown> = {}) {
  const p = parts(scripts);
  const m = await RiscvMachine.create({
    manifest: parseManifest({ memory: '64M', cpus: scripts.length, clock: 'instructions', ...extra }),
    parts: p,
    images: { kernel: image(), initrd: new Uint8Array([1, 2, 3]) },
    loadModule: nodeModuleLoader(fixtures, []),
    yieldEveryMs: 2,
  });
  const out: number[] = [];
  m.on('console', (b) => out.push(...b));
  return { m, p, out: () => String.fromCharCode(...out) };
}

const put = (s: string): Step[] =>
  [...s].map((c) => ({ sbi: [Eid.LegacyPutchar, 0, BigInt(c.charCodeAt(0))] }));

describe('RiscvMachine run loop', () => {
  it('pause() holds the harts between slices until resume(); stop() ends a paused machine', async () => {
    const steps: Step[] = Array.from({ length: 2000 }, () => ({ run: 1000 }));
    const { m, p } = await machine([[...steps, { sbi: [Eid.Srst, 0, 0n, 0n] }]]);
    // Paused before it runs: not one instruction until resume(), however long the host waits.
    m.pause();
    expect(m.isPaused).toBe(true);
    const done = m.run();
    await new Promise((r) => setTimeout(r, 50));
    expect(p.harts[0].instret).toBe(0);
    m.resume();
    expect(m.isPaused).toBe(false);
    expect(await done).toEqual({ kind: 'poweroff', code: 0 });
    expect(p.harts[0].instret).toBe(2_000_001);
    const again = await machine([steps]);
    const run2 = again.m.run();
    again.m.pause();
    again.m.stop('test');
    expect(await run2).toEqual({ kind: 'stopped', reason: 'test' });
  });

  it('boots hart 0 through the trampoline with a0 = hartid, a1 = DTB, and powers off via SBI SRST', async () => {
    const { m, p, out } = await machine([[...put('hi'), { sbi: [Eid.Srst, 0, 0n, 0n] }]]);
    const exit = await m.run();
    expect(exit).toEqual({ kind: 'poweroff', code: 0 });
    expect(out()).toBe('hi');
    const h = p.harts[0];
    expect(h.resets[0]).toBe(0x80000000); // trampoline at RAM base
    expect(h.x[10]).toBe(0n); // SRST success written back
    // The trampoline holds the kernel entry in its data area.
    expect(m.ram.readU64(0x80000000 + 96 + 40)).toBe(0x80200000);
  });

  it('writes a device tree that dtc accepts, with initrd, reserved trampolines and every device', async () => {
    const { m } = await machine([[]], {
      devices: [{ package: './echo-plugin.mjs', device: 'echo' }],
      boot: { cmdline: 'console=ttyS0 quiet' },
    });
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'dt-')), 'm.dtb');
    writeFileSync(f, m.dtb());
    const dts = execFileSync('dtc', ['-q', '-I', 'dtb', '-O', 'dts', f], { encoding: 'utf8' });
    expect(dts).toContain('bootargs = "console=ttyS0 quiet";');
    expect(dts).toContain('riscv,isa = "rv64imafdc_zicsr_zifencei";');
    expect(dts).toContain('virtio_mmio@10002000');
    expect(dts).toContain('interrupts = <0x21>;');
    expect(dts).toContain('boot-trampolines@80000000');
    expect(dts).toContain('timebase-frequency = <0x989680>;');
  });

  it('starts a second hart with HSM and delivers an IPI that wakes it', async () => {
    const { m, p } = await machine([
      [
        { sbi: [Eid.Hsm, 0, 1n, 0x80200000n, 42n] },
        { run: 1000 },
        { sbi: [Eid.Ipi, 0, 0b10n, 0n] },
        { wfiUntil: Mip.SSIP },
      ],
      [{ wfiUntil: Mip.SSIP }, { sbi: [Eid.Srst, 0, 0n, 0n] }],
    ]);
    expect(await m.run()).toEqual({ kind: 'poweroff', code: 0 });
    expect(p.harts[1].resets).toEqual([0x80000100]); // its own trampoline
    expect(p.harts[1].log).toEqual([`woke by ${Mip.SSIP}`]);
    expect(m.ram.readU64(0x80000100 + 96 + 40)).toBe(0x80200000);
  });

  it('fires the SBI timer when the deterministic clock reaches it, even while every hart waits', async () => {
    const { m, p } = await machine([
      [{ sbi: [Eid.Time, 0, 5_000_000n] }, { wfiUntil: Mip.STIP }, { sbi: [Eid.Srst, 0, 0n, 0n] }],
    ]);
    expect(await m.run()).toEqual({ kind: 'poweroff', code: 0 });
    expect(m.clock.now()).toBeGreaterThanOrEqual(5_000_000);
    expect(p.harts[0].log).toEqual([`woke by ${Mip.STIP}`]);
  });

  it('does not let deterministic time jump while a device has a request on the host', async () => {
    const { m, p } = await machine(
      [[{ sbi: [Eid.Time, 0, 5_000_000n] }, { wfiUntil: Mip.STIP }, { sbi: [Eid.Srst, 0, 0n, 0n] }]],
      { devices: [{ package: './echo-plugin.mjs', device: 'echo' }] },
    );
    // A disk request the backend takes 30 ms of real time to finish, issued before the hart waits.
    const dev = m.devices[0].device as { requestsInFlight?: number };
    dev.requestsInFlight = 1;
    let timeAtCompletion = -1;
    setTimeout(() => {
      timeAtCompletion = m.clock.now();
      dev.requestsInFlight = 0;
    }, 30);
    expect(await m.run()).toEqual({ kind: 'poweroff', code: 0 });
    expect(timeAtCompletion).toBeGreaterThanOrEqual(0);
    expect(timeAtCompletion).toBeLessThan(5_000_000);
    expect(p.harts[0].log).toEqual([`woke by ${Mip.STIP}`]);
  });

  it('reboots in the same process and boots again', async () => {
    const { m, p } = await machine([[{ sbi: [Eid.Srst, 0, 1n, 0n] }]]);
    let reboots = 0;
    m.on('reboot', () => {
      reboots++;
      if (reboots === 2) m.powerOff(3);
    });
    expect(await m.run()).toEqual({ kind: 'poweroff', code: 3 });
    expect(reboots).toBe(2);
    expect(p.harts[0].resets.filter((pc) => pc === 0x80000000).length).toBeGreaterThanOrEqual(3);
  });

  it('wakes a waiting hart on a device interrupt and on console input', async () => {
    const { m, p } = await machine([[{ wfiUntil: Mip.SEIP }, { sbi: [Eid.Srst, 0, 0n, 0n] }]]);
    const done = m.run();
    setTimeout(() => m.consoleInput(new TextEncoder().encode('x')), 5);
    // The UART raises its line only when the guest enabled its interrupt; poke it like the 8250 driver.
    m.bus.write(0x10000001, 1, 1);
    expect(await done).toEqual({ kind: 'poweroff', code: 0 });
    expect(p.lines.get(10)).toBe(true);
  });

  it('stops on request from the host', async () => {
    const { m } = await machine([[{ run: 10 }]]);
    setTimeout(() => m.stop('test'), 5);
    expect(await m.run()).toEqual({ kind: 'stopped', reason: 'test' });
  });

  it('ignores SBI calls with hostile arguments and keeps running', async () => {
    const { m, out } = await machine([
      [
        { sbi: [Eid.Dbcn, 0, 1n << 62n, 0xdeadbeefn, 0xffffffffn] },
        { sbi: [Eid.Hsm, 0, 99n, 0n, 0n] },
        { sbi: [0x12345678, 7] },
        ...put('ok'),
        { sbi: [Eid.Srst, 0, 0n, 0n] },
      ],
    ]);
    expect(await m.run()).toEqual({ kind: 'poweroff', code: 0 });
    expect(out()).toBe('ok');
  });
});
