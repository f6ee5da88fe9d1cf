/**
 * The default architecture parts of a riscv64 virtio-desktop machine: our RV64GC hart, the PLIC, the
 * SiFive CLINT and the two clocks. Another CPU or interrupt model plugs in through {@link RiscvParts}.
 */
import { Hart } from '@virtio-desktop/cpu-riscv';
import { Plic } from '@virtio-desktop/irqchip';
import { Clint, InstructionTimeSource, WallClockTimeSource, type TimeSource } from '@virtio-desktop/timer';
import type { ClockPart, RiscvParts } from './parts.js';

export interface RiscvPartsOptions {
  /**
   * Run the harts on the decoded-instruction cache and its fast loop (default true, about twice the
   * speed); false runs every instruction through the reference executor (for debugging the CPU).
   */
  fastCpu?: boolean;
}

export function createRiscvParts(opts: RiscvPartsOptions = {}): RiscvParts {
  return {
    isaExtensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicntr'],
    mmuType: 'riscv,sv48',
    createHart: (o) => new Hart({ ...o, fastPath: opts.fastCpu !== false }),
    createPlic: (o) =>
      new Plic({ sources: o.sources, harts: o.harts, phandle: o.phandle, intcPhandles: o.intcPhandles }),
    createClint: (o) => new Clint(o.harts, o.clock as TimeSource, o.intcPhandles),
    createClock: (kind): ClockPart =>
      kind === 'wall' ? new WallClockTimeSource() : new InstructionTimeSource(),
  };
}
