/**
 * The riscv64 memory map of a virtio-desktop machine (spec/virtio-desktop.md §6.1).
 * Low devices follow QEMU's `virt` board (hw/riscv/virt.c) so that firmware and kernels that know that
 * board find familiar addresses; the virtio window is wider than QEMU's eight slots because a desktop
 * needs more devices, and its interrupts start at 32 so they never collide with the UART's.
 */
export const RiscvMap = {
  /** SiFive test finisher: poweroff/reboot register used by OpenSBI's generic platform. */
  test: { base: 0x0010_0000, size: 0x1000 },
  /** CLINT: MSWI at +0, MTIMER compare at +0x4000, mtime at +0xbff8. */
  clint: { base: 0x0200_0000, size: 0x1_0000 },
  plic: { base: 0x0c00_0000, size: 0x400_0000 },
  uart: { base: 0x1000_0000, size: 0x100, irq: 10 },
  virtio: {
    base: 0x1000_1000,
    slotSize: 0x1000,
    slots: 32,
    /** PLIC source of slot i is firstIrq + i. */
    firstIrq: 32,
  },
  /** Slot 0 of the virtio window is reserved for virtio-power, so a guest finds it without a search. */
  powerSlot: 0,
  ram: { base: 0x8000_0000 },
  /** PLIC sources 1..ndev exist. */
  plicSources: 63,
  /** mtime frequency, as QEMU virt. */
  timebaseFrequency: 10_000_000,
} as const;

export function virtioSlotBase(slot: number): number {
  return RiscvMap.virtio.base + slot * RiscvMap.virtio.slotSize;
}

export function virtioSlotIrq(slot: number): number {
  return RiscvMap.virtio.firstIrq + slot;
}
