/**
 * Harts on worker threads over shared RAM (src/threads/): every hart hammers AMO and LR/SC counters at
 * once and no update may be lost; a worker that throws reports one line. The workers run the TypeScript
 * entry through tsx, so this needs no build.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allocateRam, ramLayoutOf, threads, type CpuEngine } from '../src/index.js';
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
  opts: { crash?: number; timeoutMs?: number } = {},
): Promise<Run> {
  const ramSize = 16 << 20;
  const buffer = allocateRam(ramSize, harts, { shared: true });
  loadElf(new Uint8Array(readFileSync(elf)), new Uint8Array(buffer, 0, ramSize));
  const { memory, layout } = ramLayoutOf(buffer)!;
  const control = threads.createControl(harts);
  const ctl = Array.from({ length: harts }, (_, h) => new threads.HartControl(control, h));
  let output = '';
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
    sbi: () => {},
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
          hostSbi: false,
          epochMs: performance.timeOrigin + performance.now(),
          ticksPerMs: 10_000,
          slice: 5_000,
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
  const code = await ended;
  const ms = performance.now() - t0;
  host.stop();
  ctl.forEach((c) => c.command(threads.Cmd.EXIT));
  await Promise.all(workers.map((w) => w.terminate()));
  return { output, code, requests: host.requests, ms, errors };
}

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

  it('a worker that throws reports one line and the run ends', async () => {
    const r = await runThreaded(elf, 2, 'interp', { crash: 1, timeoutMs: 30_000 });
    expect(r.code).toBe(-2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^Error: hart 1: fault injected/);
    expect(r.errors[0]).not.toContain('\n');
  }, 60_000);
});
