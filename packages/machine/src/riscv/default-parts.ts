/**
 * The default architecture parts of a riscv64 virtio-desktop machine, as part plugins: our RV64GC hart
 * (@virtio-desktop/cpu-riscv), the PLIC (@virtio-desktop/irqchip) and the SiFive CLINT with the two clocks
 * (@virtio-desktop/timer). A manifest that names none of `cpu`, `irqchip`, `timer` gets these; one that
 * names these packages gets them too, with its options.
 */
import {
  allocateRam,
  CPU_ENGINES,
  Hart,
  restoreHart,
  saveHart,
  type CpuEngine,
} from '@virtio-desktop/cpu-riscv';
import { Plic } from '@virtio-desktop/irqchip';
import { Clint, InstructionTimeSource, WallClockTimeSource, type TimeSource } from '@virtio-desktop/timer';
import { PluginOptionError, opt, type SavedState } from '@virtio-desktop/virtio-core';
import type {
  ClockPart,
  CpuPart,
  HartPart,
  IrqchipPart,
  PartKind,
  PartPlugin,
  RiscvParts,
  TimerPart,
} from './parts.js';
import { riscvThreads } from './threads.js';

export interface RiscvPartsOptions {
  /**
   * The harts' engine: 'jit' (the default: the decoded-instruction cache, hot code compiled to
   * WebAssembly), 'interp' (the same cache, interpreted) or 'reference' (every instruction through the
   * reference executor, for debugging the CPU).
   */
  cpu?: CpuEngine;
}

export const CPU_PACKAGE = '@virtio-desktop/cpu-riscv';
export const IRQCHIP_PACKAGE = '@virtio-desktop/irqchip';
export const TIMER_PACKAGE = '@virtio-desktop/timer';

export const cpuRiscvPlugin: PartPlugin<'riscv-cpu', { engine: CpuEngine }> = {
  kind: 'riscv-cpu',
  name: 'cpu-riscv',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      engine: {
        enum: [...CPU_ENGINES],
        default: 'jit',
        description:
          '"jit": hot code compiled to WebAssembly (fastest); "interp": the decoded-instruction cache, interpreted; "reference": one instruction at a time (debugging). vdesk run --cpu overrides it.',
      },
    },
  },
  parseOptions(raw) {
    const o = opt.object(raw);
    opt.only(o, ['engine']);
    const engine = opt.string(o, 'engine', 'jit');
    if (!(CPU_ENGINES as readonly string[]).includes(engine))
      throw new PluginOptionError(`option "engine" must be one of ${CPU_ENGINES.join(', ')}`);
    return { engine: engine as CpuEngine };
  },
  create: ({ engine }) => ({
    isaExtensions: ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicntr'],
    mmuType: 'riscv,sv48',
    // The JIT compiles against the memory the RAM is in; the other engines take any buffer.
    allocateRam: (size, harts) => (engine === 'jit' ? allocateRam(size, harts) : new ArrayBuffer(size)),
    createHart: (o) => new Hart({ ...o, engine }),
    saveHart: (h) => saveHart(h as Hart),
    restoreHart: (h, s) => restoreHart(h as Hart, s),
    // The JIT's working set (RAM offsets where compiled regions start; the harts on one RAM share it).
    saveCode: (hs) => ({ version: 1, data: new Uint8Array((hs[0] as Hart).codeProfile().buffer) }),
    restoreCode: (hs, s) => {
      const d = s.data;
      if (s.version !== 1 || !(d instanceof Uint8Array) || d.length % 4 !== 0) return;
      (hs[0] as Hart).warmCode(new Uint32Array(d.slice().buffer));
    },
    threads: riscvThreads(engine, nodeHartEntry()),
  }),
};

/**
 * Node, built: the machine's hart worker entry beside this bundle (hart-entry.node.ts: the harts at a
 * lower priority than the devices' thread); from sources (tests) and in browsers, the CPU's own entry
 * (a page passes its URL). The name is a variable so that bundlers do not take it for a page's asset.
 */
function nodeHartEntry(): URL | undefined {
  const entry = './hart-entry.node.js';
  const node = typeof process === 'object' && typeof process.versions?.node === 'string';
  return node && import.meta.url.endsWith('.js') ? new URL(entry, import.meta.url) : undefined;
}

const noOptions = (raw: unknown): undefined => {
  opt.only(opt.object(raw), []);
  return undefined;
};
const NO_OPTIONS_SCHEMA = { type: 'object', additionalProperties: false, properties: {} } as const;

export const plicPlugin: PartPlugin<'riscv-irqchip', undefined> = {
  kind: 'riscv-irqchip',
  name: 'plic',
  optionsSchema: NO_OPTIONS_SCHEMA,
  parseOptions: noOptions,
  create: () => ({
    interruptControllerKind: 'RiscvPlic',
    createPlic: (o) =>
      new Plic({ sources: o.sources, harts: o.harts, phandle: o.phandle, intcPhandles: o.intcPhandles }),
  }),
};

export const clintPlugin: PartPlugin<'riscv-timer', undefined> = {
  kind: 'riscv-timer',
  name: 'clint',
  optionsSchema: NO_OPTIONS_SCHEMA,
  parseOptions: noOptions,
  create: () => ({
    timerKind: 'RiscvAclintMtimer',
    createClint: (o) => new Clint(o.harts, o.clock as TimeSource, o.intcPhandles),
    createClock: (kind): ClockPart =>
      kind === 'wall' ? new WallClockTimeSource() : new InstructionTimeSource(),
  }),
};

/** The plugins the machine ships for its own part packages, by package name. */
export const BUILTIN_PARTS: { readonly [K in PartKind]: { package: string; plugin: PartPlugin<K> } } = {
  'riscv-cpu': { package: CPU_PACKAGE, plugin: cpuRiscvPlugin as PartPlugin<'riscv-cpu'> },
  'riscv-irqchip': { package: IRQCHIP_PACKAGE, plugin: plicPlugin as PartPlugin<'riscv-irqchip'> },
  'riscv-timer': { package: TIMER_PACKAGE, plugin: clintPlugin as PartPlugin<'riscv-timer'> },
};

/** One RiscvParts from three parts; calls go to each part object, so class instances work too. */
export function combineParts(cpu: CpuPart, irqchip: IrqchipPart, timer: TimerPart): RiscvParts {
  const allocate = cpu.allocateRam;
  return {
    isaExtensions: cpu.isaExtensions,
    mmuType: cpu.mmuType,
    ...(allocate ? { allocateRam: (size: number, harts: number) => allocate.call(cpu, size, harts) } : {}),
    createHart: (o) => cpu.createHart(o),
    ...(cpu.threads ? { threads: cpu.threads } : {}),
    ...(cpu.saveHart && cpu.restoreHart
      ? {
          saveHart: (h: HartPart) => cpu.saveHart!(h),
          restoreHart: (h: HartPart, s: SavedState) => cpu.restoreHart!(h, s),
        }
      : {}),
    ...(cpu.saveCode && cpu.restoreCode
      ? {
          saveCode: (hs: readonly HartPart[]) => cpu.saveCode!(hs),
          restoreCode: (hs: readonly HartPart[], s: SavedState) => cpu.restoreCode!(hs, s),
        }
      : {}),
    createPlic: (o) => irqchip.createPlic(o),
    interruptControllerKind: irqchip.interruptControllerKind,
    createClint: (o) => timer.createClint(o),
    createClock: (kind) => timer.createClock(kind),
    timerKind: timer.timerKind,
  };
}

/** The default parts in code (hosts that build machines without a manifest's part entries). */
export function createRiscvParts(opts: RiscvPartsOptions = {}): RiscvParts {
  return combineParts(
    cpuRiscvPlugin.create({ engine: opts.cpu ?? 'jit' }),
    plicPlugin.create(undefined),
    clintPlugin.create(undefined),
  );
}
