/**
 * Harts on worker threads over shared RAM (src/threads/): every hart hammers AMO and LR/SC counters at
 * once and no update may be lost; a worker that throws reports one line. The workers run the TypeScript
 * entry through tsx, so this needs no build.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allocateRam, ramLayoutOf, threads, type CpuEngine } from '../src/index.js';
import { MailboxBus } from '../src/threads/hart-worker.js';
import { build, loadElf } from './harness.js';

const ENTRY = fileURLToPath(new URL('./ts-worker.mjs', import.meta.url));
const RAM_BASE = 0x8000_0000;
const UART = 0x1000_0000;
const FINISHER = 0x10_0000;

interface Run {
  output: string;
  code: number;
  requests: number;
  ms: number;
  errors: string[];
}

async function runThreaded(
  elf: string,
  harts: number,
  engine: CpuEngine,
  opts: {
    crash?: number;
    timeoutMs?: number;
    roundTrip?: boolean;
    hostSbi?: boolean;
    slice?: number;
    jitThreshold?: number;
  } = {},
): Promise<Run & { refused?: string; sbiCalls: number; fences: number[][]; bells: number[] }> {
  const ramSize = 16 << 20;
  const buffer = allocateRam(ramSize, harts, { shared: true });
  loadElf(new Uint8Array(readFileSync(elf)), new Uint8Array(buffer, 0, ramSize));
  const { memory, layout } = ramLayoutOf(buffer)!;
  const control = threads.createControl(harts);
  const ctl = Array.from({ length: harts }, (_, h) => new threads.HartControl(control, h));
  let output = '';
  let sbiCalls = 0;
  const errors: string[] = [];
  let finish: (code: number) => void = () => {};
  const ended = new Promise<number>((resolve) => {
    finish = resolve;
    setTimeout(() => resolve(-1), opts.timeoutMs ?? 120_000).unref();
  });
  const host = new threads.MailboxHost(ctl, {
    read: (_h, addr) => (addr === UART + 5 ? 0x60 : addr >= UART && addr < UART + 8 ? 0 : -1),
    write: (_h, addr, _w, v) => {
      if (addr === UART) output += String.fromCharCode(v & 0xff);
      else if (addr === FINISHER) finish(v);
      else return addr > UART && addr < UART + 8;
      return true;
    },
    sbi: () => {
      sbiCalls++;
    },
  });
  host.start();
  const t0 = performance.now();
  const workers = await Promise.all(
    ctl.map((_, h) =>
      threads.spawnHartWorker(
        {
          hartId: h,
          memory,
          layout,
          ramBase: RAM_BASE,
          ramSize,
          control,
          engine,
          hostSbi: opts.hostSbi ?? false,
          epochMs: performance.timeOrigin + performance.now(),
          ticksPerMs: 10_000,
          slice: opts.slice ?? 5_000,
          ...(opts.jitThreshold ? { jitThreshold: opts.jitThreshold } : {}),
        },
        { url: ENTRY },
      ),
    ),
  );
  workers.forEach((w) =>
    w.onMessage((m) => {
      if (m.type === 'error') {
        errors.push(m.message);
        finish(-2);
      }
    }),
  );
  ctl.forEach((c, h) => {
    c.f64[threads.D.START_PC] = RAM_BASE;
    c.i32[threads.W.START_REGS] = h;
    c.i32[threads.W.START_REGS + 2] = harts;
    c.command(threads.Cmd.START);
  });
  if (opts.crash !== undefined) ctl[opts.crash].command(threads.Cmd.CRASH);
  const refused = opts.roundTrip ? await roundTrip(ctl) : undefined;
  const code = await ended;
  const ms = performance.now() - t0;
  host.stop();
  const fences = ctl.map((c) => [
    Atomics.load(c.i32, threads.W.FENCE_SEQ),
    Atomics.load(c.i32, threads.W.FENCE_ACK),
  ]);
  const bells = ctl.map((c) => Atomics.load(c.i32, threads.W.DOORBELL));
  ctl.forEach((c) => c.command(threads.Cmd.EXIT));
  await Promise.all(workers.map((w) => w.terminate()));
  return {
    output,
    code,
    requests: host.requests,
    ms,
    errors,
    sbiCalls,
    fences,
    bells,
    ...(refused ? { refused } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(ok: () => boolean): Promise<void> {
  for (let t = 0; t < 10_000 && !ok(); t++) await sleep(1);
  expect(ok()).toBe(true);
}

/**
 * Mid-run: SAVE every hart, reset each to the program's start (so that a LOAD that restored nothing
 * would run the program again and break its counts), refuse a garbage state, LOAD the saved states
 * and let the harts run on. Returns the refusal's message.
 */
async function roundTrip(ctl: threads.HartControl[]): Promise<string> {
  const { Cmd, HartRun, W } = threads;
  const command = async (c: threads.HartControl, cmd: number): Promise<void> => {
    c.command(cmd);
    await until(() => Atomics.load(c.i32, W.CMD) === Cmd.NONE);
  };
  const load = async (c: threads.HartControl, bytes: Uint8Array): Promise<void> => {
    expect(c.putExchange(bytes)).toBe(true);
    Atomics.store(c.i32, W.LOAD_RUN, 1);
    const seq = (Atomics.add(c.i32, W.STATE_SEQ, 1) + 1) | 0;
    await command(c, Cmd.LOAD);
    await until(() => Atomics.load(c.i32, W.STATE_ACK) === seq);
  };
  // Once every worker has taken its START (one command word: a SAVE would replace it) and run a little.
  await until(() => ctl.every((c) => Atomics.load(c.i32, W.CMD) === Cmd.NONE));
  await sleep(20);
  for (const c of ctl) c.command(Cmd.SAVE);
  await until(() => ctl.every((c) => c.run === HartRun.HELD));
  const saved = ctl.map((c) => c.takeExchange());
  let refused = '';
  for (const [h, c] of ctl.entries()) {
    const s = saved[h];
    if (!('bytes' in s)) throw new Error(`hart ${h}: ${s.error}`);
    await command(c, Cmd.START);
    await load(c, new Uint8Array([1, 2, 3]));
    const bad = c.takeExchange();
    if ('error' in bad) refused = bad.error;
    expect(c.run).toBe(HartRun.HELD);
    await load(c, s.bytes);
    expect(c.takeExchange()).toEqual({ bytes: new Uint8Array(0) });
  }
  return refused;
}

describe('the control block', () => {
  it('posts stores only of their range and width', () => {
    const ranges: threads.PostedRange[] = [
      { base: 0x1000, count: 2, stride: 0x100, offset: 0x50 },
      { base: UART, count: 1, stride: 1, offset: 0, width: 1 },
    ];
    expect(threads.isPosted(ranges, 0x1150, 4)).toBe(true);
    expect(threads.isPosted(ranges, 0x1150, 1)).toBe(false);
    expect(threads.isPosted(ranges, 0x1250, 4)).toBe(false); // past count
    expect(threads.isPosted(ranges, UART, 1)).toBe(true);
    expect(threads.isPosted(ranges, UART, 4)).toBe(false);
    expect(threads.isPosted(ranges, UART + 1, 1)).toBe(false);
  });

  it('checks shared registers against their cells; a posted clear carries 0, a store the word', () => {
    const cells = new Int32Array(new SharedArrayBuffer(8));
    expect(() => threads.sharedRegisterMap([{ addr: 0x60, cell: 2 }], 2)).toThrow(RangeError);
    expect(() => threads.sharedRegisterMap([{ addr: 0x62, cell: 0 }], 2)).toThrow(RangeError);
    const m = threads.sharedRegisterMap(
      [
        { addr: 0x60, cell: 0 },
        { addr: 0x64, cell: 0, clear: true },
        { addr: 0x105, cell: 1, width: 1, readOnly: true },
      ],
      2,
    );
    cells[0] = 0x8000_0003;
    expect(threads.sharedStoreValue(m.get(0x64)!, cells)).toBe(0);
    expect(threads.sharedStoreValue(m.get(0x60)!, cells)).toBe(0x8000_0003);
  });
});

describe("a hart worker's bus", () => {
  it('answers shared registers from their words: loads, masked stores, clears, bytes, all posted', () => {
    const control = threads.createControl(1);
    const c = new threads.HartControl(control, 0);
    const cells = new SharedArrayBuffer(16);
    const w = new Int32Array(cells);
    const bus = new MailboxBus(
      c,
      [],
      [],
      () => {},
      [
        { addr: 0x1060, cell: 0, readOnly: true },
        { addr: 0x1064, cell: 0, clear: true },
        { addr: 0x2000, cell: 1, mask: 0xfffe },
        { addr: 0x3005, cell: 2, width: 1, readOnly: true },
      ],
      cells,
    );
    w[0] = 3;
    w[2] = 0x161;
    expect(bus.read(0x1060, 4)).toBe(3);
    expect(bus.read(0x3005, 1)).toBe(0x61);
    expect(bus.write(0x1064, 4, 1)).toBe(true);
    expect(w[0]).toBe(2);
    expect(bus.write(0x2000, 4, 0xffff_ffff)).toBe(true);
    expect(w[1]).toBe(0xfffe); // a bit the register does not have stays 0
    expect(bus.read(0x2000, 4)).toBe(0xfffe);
    // Both stores went into the ring for the device, in order (the host rewrites their values).
    const i = c.i32;
    expect(Atomics.load(i, threads.W.POST_HEAD) - Atomics.load(i, threads.W.POST_TAIL)).toBe(2);
    const e = (k: number) => [
      ...i.subarray(
        threads.POST_RING + k * threads.POST_ENTRY_WORDS,
        threads.POST_RING + k * threads.POST_ENTRY_WORDS + 2,
      ),
    ];
    expect([e(0), e(1)]).toEqual([
      [0x1064, 4],
      [0x2000, 4],
    ]);
  });
});

describe("a hart worker's claims", () => {
  it('takes an offered claim from its word after lowering its line; an empty word reads 0, no round trip', () => {
    const control = threads.createControl(1);
    const c = new threads.HartControl(control, 0);
    const cells = new SharedArrayBuffer(8);
    const w = new Int32Array(cells);
    let synced = 0;
    const claim = 0xc20_1004;
    const bus = new MailboxBus(
      c,
      [{ base: 0xc20_0000, count: 2, stride: 0x1000, offset: 4 }],
      [],
      () => synced++,
      [{ addr: claim, cell: 1, readOnly: true, take: 9 }],
      cells,
    );
    Atomics.or(c.i32, threads.W.MIP_LEVEL, (1 << 9) | (1 << 5));
    w[1] = 7;
    expect(bus.read(claim, 4)).toBe(7);
    expect(w[1]).toBe(0);
    // SEIP lowered (STIP kept) and brought into the hart.
    expect(Atomics.load(c.i32, threads.W.MIP_LEVEL)).toBe(1 << 5);
    expect(synced).toBe(1);
    // Nothing offered: 0 at once (a round trip would wait for a main thread there is none of).
    expect(bus.read(claim, 4)).toBe(0);
    expect(synced).toBe(1);
    // The completion is a store for the device, posted with its own value.
    expect(bus.write(claim, 4, 7)).toBe(true);
    const writes: number[][] = [];
    const host = new threads.MailboxHost([c], {
      read: () => -1,
      write: (_h, addr, _w, value) => writes.push([addr, value]) > 0,
      sbi: () => {},
    });
    host.share([{ addr: claim, cell: 1, readOnly: true, take: 9 }], cells);
    w[1] = 9; // a newer offer: the store must not carry the word (as a shared store would)
    host.drainAll();
    expect(writes).toEqual([[claim, 7]]);
    expect(() => threads.sharedRegisterMap([{ addr: claim, cell: 0, take: 40 }], 2)).toThrow(RangeError);
  });
});

describe('harts on threads', () => {
  const elf = build('smp.c');
  for (const engine of ['interp', 'jit', 'reference'] as const) {
    it(`loses no AMO or LR/SC update with 4 harts on 4 workers (${engine})`, async () => {
      const r = await runThreaded(elf, 4, engine);
      expect(r.errors).toEqual([]);
      expect(r.output).toContain('ALL COUNTED');
      expect(r.output).toContain(`amo64=${(80_000).toString(16).padStart(16, '0')}`);
      expect(r.output).toContain(`lrsc32=${(80_000).toString(16).padStart(16, '0')}`);
      expect(r.code).toBe(0x5555);
    }, 180_000);
  }

  it('SAVE holds every hart mid-run and LOAD puts its state back (a bad state is refused): no update lost', async () => {
    const r = await runThreaded(elf, 2, 'jit', { roundTrip: true, timeoutMs: 60_000 });
    expect(r.errors).toEqual([]);
    expect(r.refused).toMatch(/./);
    expect(r.output).toContain('ALL COUNTED');
    expect(r.output).toContain(`amo64=${(40_000).toString(16).padStart(16, '0')}`);
    expect(r.code).toBe(0x5555);
  }, 180_000);

  it('SBI remote fences go from worker to worker: every target acknowledges, a missing hart is refused', async () => {
    const r = await runThreaded(build('rfence.c'), 2, 'jit', { hostSbi: true, timeoutMs: 60_000 });
    expect(r.errors).toEqual([]);
    expect(r.output).toContain(`vma=${'0'.repeat(16)}`);
    expect(r.output).toContain(`fencei=${'0'.repeat(16)}`);
    expect(r.output).toContain('bad=fffffffffffffffd');
    expect(r.code).toBe(0x5555);
    // Hart 1 was asked twice (the refused call asks nobody) and did both; hart 0 did its own directly.
    expect(r.fences).toEqual([
      [0, 0],
      [2, 2],
    ]);
    // No round trip to the main thread's SBI for any of them.
    expect(r.sbiCalls).toBe(0);
  }, 60_000);

  it('a remote fence asked of a hart in WFI is done before it runs again, without waking it for it', async () => {
    const r = await runThreaded(build('rfence-wfi.c'), 2, 'jit', { hostSbi: true, timeoutMs: 20_000 });

    expect(r.errors).toEqual([]);
    expect(r.output).toContain(`first=${(0xaaaa).toString(16).padStart(16, '0')}`);
    // The TLB entry hart 1 had before it slept is gone: its load after the IPI reads the new page.
    expect(r.output).toContain(`seen=${(0xbbbb).toString(16).padStart(16, '0')}`);
    expect(r.code).toBe(0x5555);
    expect(r.fences[1]).toEqual([1, 1]);
    // Hart 1's doorbell rang for its START and the IPI only: the fence did not wake it.
    expect(r.bells[1]).toBe(2);
    expect(r.sbiCalls).toBe(0);
  }, 60_000);

  // Threshold 2: hart 1's loop is compiled by then (fails without the kick check in compiled code);
  // 65,535: the interpreter in wasm runs it first, and the run loop sees the kick at the latest when the
  // interpreter hands back the arrival that reaches the threshold (the interpreter's own check at each
  // arrival only makes that sooner: this variant does not fail without it).
  for (const jitThreshold of [2, 65_535])
    it(`a kick ends a busy hart's slice: remote fences reach a hart in a 2-billion-instruction slice at once (JIT threshold ${jitThreshold})`, async () => {
      // Without the kick (control.ts ring, memory.ts HS_KICK) hart 1 would look at its fence requests
      // only when its slice ends (seconds), and hart 0 gives up on each after 5 s.
      const r = await runThreaded(build('rfence.c'), 2, 'jit', {
        hostSbi: true,
        timeoutMs: 60_000,
        slice: 2e9,
        jitThreshold,
      });
      expect(r.errors).toEqual([]);
      expect(r.output).toContain(`vma=${'0'.repeat(16)}`);
      expect(r.fences[1]).toEqual([2, 2]);
      expect(r.code).toBe(0x5555);
      expect(r.ms).toBeLessThan(3000);
    }, 60_000);

  it('a worker that throws reports one line and the run ends', async () => {
    const r = await runThreaded(elf, 2, 'interp', { crash: 1, timeoutMs: 30_000 });
    expect(r.code).toBe(-2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^Error: hart 1: fault injected/);
    expect(r.errors[0]).not.toContain('\n');
  }, 60_000);
});
