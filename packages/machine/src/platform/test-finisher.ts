import type { AccessWidth, BusDevice, DtNode, Placement } from '@virtio-desktop/virtio-core';
import { cells64 } from '@virtio-desktop/virtio-core';

export type FinisherAction = { kind: 'poweroff'; code: number } | { kind: 'reboot' };

/**
 * The SiFive test finisher ("sifive,test0"), QEMU virt's power register: 0x5555 powers off (pass),
 * (code << 16) | 0x3333 powers off with an exit code, 0x7777 resets. OpenSBI's generic platform finds it in
 * the device tree for SBI SRST; bare-metal test programs use it to end.
 */
export class TestFinisher implements BusDevice {
  readonly name = 'sifive-test';
  readonly size = 0x1000;

  constructor(private readonly onAction: (a: FinisherAction) => void) {}

  read(): number {
    return 0;
  }

  write(offset: number, width: AccessWidth, value: number): void {
    // OpenSBI writes 16 bits (the command alone); bare-metal programs write 32 (with an exit code).
    if (offset !== 0 || width === 1) return;
    const low = value & 0xffff;
    if (low === 0x5555) this.onAction({ kind: 'poweroff', code: 0 });
    else if (low === 0x3333) this.onAction({ kind: 'poweroff', code: value >>> 16 || 1 });
    else if (low === 0x7777) this.onAction({ kind: 'reboot' });
  }

  reset(): void {}

  describe(p: Placement): DtNode {
    return {
      name: 'test',
      unitAddress: p.base,
      props: {
        compatible: ['sifive,test1', 'sifive,test0', 'syscon'],
        reg: [...cells64(p.base), ...cells64(this.size)],
      },
      phandle: 0x7000,
    };
  }
}
