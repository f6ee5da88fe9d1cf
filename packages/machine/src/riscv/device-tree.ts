/**
 * The device tree of a riscv64 virtio-desktop machine (spec/virtio-desktop.md §3.1 and §5.1),
 * shaped like QEMU virt's so Linux and OpenSBI need nothing new. Every part describes its own node; this
 * file only arranges them.
 */
import { cells64, type DtNode, type DtValue } from '@virtio-desktop/virtio-core';
import { RiscvMap } from '../memory-map.js';
import { TRAMPOLINE_REGION } from './boot.js';

export interface DtParts {
  harts: number;
  /** ISA extensions each hart implements, in the order of riscv,isa-extensions. */
  isaExtensions: readonly string[];
  mmuType: 'riscv,sv39' | 'riscv,sv48';
  ram: { base: number; size: number };
  /** Nodes of the platform devices (PLIC, CLINT, UART, test) and the virtio slots, already described. */
  soc: readonly DtNode[];
  /** Phandle of hart h's local interrupt controller. */
  intcPhandle(h: number): number;
  bootargs: string;
  initrd?: { start: number; end: number };
  stdoutPath: string;
  /**
   * Random bytes for /chosen/rng-seed (as QEMU virt gives): Linux seeds its random generator from them
   * at boot, instead of waiting for entropy from timer jitter (~1 s of the desktop's start-up, 7–8 s
   * in a browser, whose clock is coarse). Absent on a machine that must repeat exactly.
   */
  rngSeed?: Uint8Array;
  /** Reserve the trampoline region (host SBI only; OpenSBI reserves its own). */
  reserveTrampolines: boolean;
  model: string;
}

export function isaString(exts: readonly string[]): string {
  const single = exts.filter((e) => e.length === 1).join('');
  const multi = exts.filter((e) => e.length > 1);
  return ['rv64' + single, ...multi].join('_');
}

export function buildDeviceTree(p: DtParts): DtNode {
  const cpus: DtNode[] = [];
  for (let h = 0; h < p.harts; h++) {
    cpus.push({
      name: 'cpu',
      unitAddress: h,
      props: {
        device_type: 'cpu',
        reg: h,
        status: 'okay',
        compatible: 'riscv',
        'riscv,isa': isaString(p.isaExtensions),
        'riscv,isa-base': 'rv64i',
        'riscv,isa-extensions': p.isaExtensions,
        'mmu-type': p.mmuType,
      },
      children: [
        {
          name: 'interrupt-controller',
          props: { '#interrupt-cells': 1, 'interrupt-controller': true, compatible: 'riscv,cpu-intc' },
          phandle: p.intcPhandle(h),
        },
      ],
    });
  }
  const chosen: Record<string, DtValue> = { bootargs: p.bootargs, 'stdout-path': p.stdoutPath };
  if (p.rngSeed) chosen['rng-seed'] = p.rngSeed;
  if (p.initrd) {
    chosen['linux,initrd-start'] = cells64(p.initrd.start);
    chosen['linux,initrd-end'] = cells64(p.initrd.end);
  }
  const children: DtNode[] = [
    { name: 'chosen', props: chosen },
    {
      name: 'memory',
      unitAddress: p.ram.base,
      props: { device_type: 'memory', reg: [...cells64(p.ram.base), ...cells64(p.ram.size)] },
    },
    {
      name: 'cpus',
      props: { '#address-cells': 1, '#size-cells': 0, 'timebase-frequency': RiscvMap.timebaseFrequency },
      children: cpus,
    },
    {
      name: 'soc',
      props: { '#address-cells': 2, '#size-cells': 2, compatible: 'simple-bus', ranges: true },
      children: p.soc,
    },
  ];
  if (p.reserveTrampolines) {
    children.push({
      name: 'reserved-memory',
      props: { '#address-cells': 2, '#size-cells': 2, ranges: true },
      children: [
        {
          name: 'boot-trampolines',
          unitAddress: p.ram.base,
          props: { reg: [...cells64(p.ram.base), ...cells64(TRAMPOLINE_REGION)], 'no-map': true },
        },
      ],
    });
  }
  return {
    name: '',
    props: {
      '#address-cells': 2,
      '#size-cells': 2,
      compatible: 'virtio-desktop,riscv64',
      model: p.model,
    },
    children,
  };
}
