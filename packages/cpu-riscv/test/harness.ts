/**
 * Test harness for the hart: cross-compiles bare-metal programs (cached by the hash of their sources),
 * loads their ELF into RAM, and runs them on our Hart or on QEMU's `virt` machine with `-bios none`.
 * Programs print through a 16550 THR at 0x10000000 and end through the SiFive test finisher at 0x100000,
 * so one ELF runs unchanged on both.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessWidth, PhysicalBus } from '@virtio-desktop/virtio-core';
import { allocateRam, Hart, StopReason, type CpuEngine } from '../src/index.js';

export const programs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'programs');
const cacheRoot = path.join(
  process.env.VDESK_CACHE ?? path.join(homedir(), '.cache', 'virtio-desktop'),
  'cpu-tests',
);
const GCC = 'riscv64-linux-gnu-gcc';
const CFLAGS = [
  '-march=rv64gc',
  '-mabi=lp64d',
  '-mcmodel=medany',
  '-nostdlib',
  '-static',
  '-ffreestanding',
  '-O2',
  '-fno-builtin',
  '-fno-pie',
  '-no-pie',
  '-Wl,--build-id=none',
];

function need(cmd: string, pkg: string): void {
  const r = spawnSync(cmd, ['--version']);
  if (r.error) throw new Error(`${cmd} not found: apt-get install ${pkg} (scripts/setup.sh installs it)`);
}

/** Compile `main` (a file in programs/, or assembly text) with crt.S; returns the ELF path. */
export function build(name: string, source?: { text: string; ext: 'c' | 'S' }): string {
  need(GCC, 'gcc-riscv64-linux-gnu');
  const files = ['crt.S', 'lib.h', 'link.ld'].map((f) => readFileSync(path.join(programs, f), 'utf8'));
  const body = source ? source.text : readFileSync(path.join(programs, name), 'utf8');
  const hash = createHash('sha256')
    .update(JSON.stringify([CFLAGS, files, body, name]))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheRoot, hash);
  const elf = path.join(dir, 'prog.elf');
  if (existsSync(elf)) return elf;
  mkdirSync(dir, { recursive: true });
  let src = path.join(programs, name);
  if (source) {
    src = path.join(dir, `main.${source.ext}`);
    writeFileSync(src, body);
  }
  execFileSync(
    GCC,
    [
      ...CFLAGS,
      '-I',
      programs,
      '-T',
      path.join(programs, 'link.ld'),
      path.join(programs, 'crt.S'),
      src,
      '-o',
      elf + '.tmp',
    ],
    {
      stdio: 'pipe',
    },
  );
  execFileSync('mv', [elf + '.tmp', elf]);
  return elf;
}

export interface RunResult {
  output: string;
  /** 0 for pass, the program's code for fail, -1 when it never finished. */
  exit: number;
  instructions: number;
}

const RAM_BASE = 0x80000000;

/** Load an ELF64 into RAM (PT_LOAD segments by physical address); returns the entry point. */
export function loadElf(elf: Uint8Array, ram: Uint8Array, base = RAM_BASE): number {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const entry = Number(dv.getBigUint64(24, true));
  // QEMU's virt machine jumps to RAM base whatever the ELF says; the programs must start there.
  if (entry !== base) throw new Error(`ELF entry 0x${entry.toString(16)} is not RAM base: check link.ld`);
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 1) continue;
    const off = Number(dv.getBigUint64(ph + 8, true));
    const paddr = Number(dv.getBigUint64(ph + 24, true));
    const filesz = Number(dv.getBigUint64(ph + 32, true));
    const memsz = Number(dv.getBigUint64(ph + 40, true));
    ram.set(elf.subarray(off, off + filesz), paddr - base);
    ram.fill(0, paddr - base + filesz, paddr - base + memsz);
  }
  return entry;
}

/** Extra devices a test may map (e.g. a CLINT); they see offsets relative to their base. */
export interface TestDevice {
  base: number;
  size: number;
  read(off: number, w: AccessWidth): number;
  write(off: number, w: AccessWidth, v: number): void;
}

/** The low (0) or high (4) word of a 64-bit counter kept as a number. */
function split(v: number, half: number): number {
  return half === 0 ? v % 2 ** 32 : Math.floor(v / 2 ** 32) % 2 ** 32;
}

export function runOurs(
  elfPath: string,
  opts: {
    maxInstructions?: number;
    devices?: TestDevice[];
    ramSize?: number;
    /** The CPU engine (default 'jit'). */
    engine?: CpuEngine;
    /** The budget of the k-th call to run() (default 10,000), so runs can end anywhere. */
    slice?: (k: number) => number;
    /**
     * Arrivals before the JIT compiles (default 2: nearly everything compiled). 65535: nothing is, and
     * the JIT's interpreter in wasm (jit-interp.ts) runs what it can.
     */
    jitThreshold?: number;
    /** Whether the JIT interprets in wasm (default: the Hart's default, true). */
    jitInterp?: boolean;
  } = {},
): RunResult & { hart: Hart } {
  const ramSize = opts.ramSize ?? 16 << 20;
  const buffer = allocateRam(ramSize, 1);
  const ram = new Uint8Array(buffer, 0, ramSize);
  const entry = loadElf(new Uint8Array(readFileSync(elfPath)), ram);
  let output = '';
  let exit = -1;
  const devices = [...(opts.devices ?? [])];
  const bus: PhysicalBus = {
    read(addr, w) {
      if (addr >= 0x10000000 && addr < 0x10000100) return addr === 0x10000005 ? 0x60 : 0;
      for (const d of devices)
        if (addr >= d.base && addr + w <= d.base + d.size) return d.read(addr - d.base, w);
      return -1;
    },
    write(addr, w, v) {
      if (addr === 0x10000000) {
        output += String.fromCharCode(v & 0xff);
        return true;
      }
      if (addr >= 0x10000000 && addr < 0x10000100) return true;
      if (addr === 0x100000) {
        const low = v & 0xffff;
        if (low === 0x5555) exit = 0;
        else if (low === 0x3333) exit = v >>> 16;
        return true;
      }
      for (const d of devices)
        if (addr >= d.base && addr + w <= d.base + d.size) {
          d.write(addr - d.base, w, v);
          return true;
        }
      return false;
    },
  };
  let ticks = 0;
  // QEMU virt's CLINT at 0x2000000 (msip at 0, mtimecmp at 0x4000, mtime at 0xbff8), so timer and
  // software-interrupt tests run unchanged on both. mtime advances with executed instructions here and in
  // real time on QEMU: programs may depend on interrupts arriving, never on when.
  let mtimecmp = 0; // as QEMU's: MTIP is pending from reset until the first write
  let msip = 0;
  // eslint-disable-next-line prefer-const
  let hart: Hart;
  const updateTimer = (): void => hart.setPending(7, ticks >= mtimecmp);
  devices.push({
    base: 0x2000000,
    size: 0x10000,
    read(off, w) {
      if (off === 0) return msip;
      if (off === 0x4000 || off === 0x4004) return w === 4 ? split(mtimecmp, off - 0x4000) : -1;
      if (off === 0xbff8 || off === 0xbffc) return w === 4 ? split(ticks, off - 0xbff8) : -1;
      return 0;
    },
    write(off, w, v) {
      if (off === 0) {
        msip = v & 1;
        hart.setPending(3, msip === 1);
      } else if ((off === 0x4000 || off === 0x4004) && w === 4) {
        const lo = off === 0x4000 ? v >>> 0 : mtimecmp % 2 ** 32;
        const hi = off === 0x4004 ? v >>> 0 : Math.floor(mtimecmp / 2 ** 32);
        mtimecmp = hi * 2 ** 32 + lo;
        updateTimer();
      }
    },
  });
  hart = new Hart({
    hartId: 0,
    ram: { base: RAM_BASE, size: ramSize, buffer },
    bus,
    time: () => ticks,
    engine: opts.engine,
    // Compile nearly everything that runs twice, so the programs exercise the JIT, not the interpreter.
    jitThreshold: opts.jitThreshold ?? 2,
    jitInterp: opts.jitInterp,
    jitSync: true,
  });
  hart.reset(entry);
  const max = opts.maxInstructions ?? 50_000_000;
  for (let k = 0; exit < 0 && hart.instret < max; k++) {
    const budget = opts.slice?.(k) ?? 10_000;
    const r = hart.run(budget);
    ticks += Math.max(1, Math.round(budget / 10));
    if (r === StopReason.Wfi) ticks += 100_000;
    updateTimer();
  }
  return { output, exit, instructions: hart.instret, hart };
}

/** Run on QEMU's virt machine; cached by the ELF's hash (QEMU is deterministic for these programs). */
export function runQemu(elfPath: string): RunResult {
  const qemu = 'qemu-system-riscv64';
  const elf = readFileSync(elfPath);
  const key = createHash('sha256').update(elf).digest('hex').slice(0, 16);
  const cached = path.join(cacheRoot, 'qemu', `${key}.json`);
  if (existsSync(cached)) return JSON.parse(readFileSync(cached, 'utf8')) as RunResult;
  need(qemu, 'qemu-system-misc');
  const r = spawnSync(
    qemu,
    [
      '-M',
      'virt',
      '-bios',
      'none',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      'stdio',
      '-kernel',
      elfPath,
      '-smp',
      '1',
      '-m',
      '128',
    ],
    {
      timeout: 60_000,
      encoding: 'latin1',
    },
  );
  // QEMU's exit status: 0 on pass; on fail, the finisher's code.
  const res: RunResult = { output: r.stdout, exit: r.status ?? -1, instructions: 0 };
  mkdirSync(path.dirname(cached), { recursive: true });
  writeFileSync(cached, JSON.stringify(res));
  return res;
}
