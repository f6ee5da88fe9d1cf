/**
 * The default architecture parts of a riscv64 virtio-desktop machine: our RV64GC hart, the PLIC, the
 * SiFive CLINT and the two clocks. Another CPU or interrupt model plugs in through {@link RiscvParts}.
 */
import { allocateRam, Hart, type CpuEngine } from '@virtio-desktop/cpu-riscv';
import { Plic } from '@virtio-desktop/irqchip';
import { Clint, InstructionTimeSource, WallClockTimeSource, type TimeSource } from '@virtio-desktop/timer';
import type { ClockPart, RiscvParts } from './parts.js';

export interface RiscvPartsOptions {
  /**
   * The harts' engine: 'jit' (the default: the decoded-instruction cache, hot code compiled to
   * JavaScript), 'interp' (the same cache, interpreted) or 'reference' (every instruction through the
   * reference executor, for debugging the CPU).
   */
  cpu?: CpuEngine;
}

export function createRiscvParts(opts: RiscvPartsOptions = {}): RiscvParts {
  return {
    isaExtensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicntr'],
    mmuType: 'riscv,sv48',
    // The JIT compiles against the memory the RAM is in; the other engines take any buffer.
    allocateRam: (size, harts) =>
      (opts.cpu ?? 'jit') === 'jit' ? allocateRam(size, harts) : new ArrayBuffer(size),
    createHart: (o) => new Hart({ ...o, engine: opts.cpu ?? 'jit' }),
    createPlic: (o) =>
      new Plic({ sources: o.sources, harts: o.harts, phandle: o.phandle, intcPhandles: o.intcPhandles }),
    createClint: (o) => new Clint(o.harts, o.clock as TimeSource, o.intcPhandles),
    createClock: (kind): ClockPart =>
      kind === 'wall' ? new WallClockTimeSource() : new InstructionTimeSource(),
  };
}
