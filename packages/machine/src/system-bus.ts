import type { AccessWidth, BusDevice, Logger, PhysicalBus } from '@virtio-desktop/virtio-core';
import { silentLogger } from '@virtio-desktop/virtio-core';

interface Mapping {
  base: number;
  end: number;
  dev: BusDevice;
}

/**
 * Decodes physical addresses outside RAM to the bus device mapped there. RAM is not on this bus: the CPU
 * accesses it directly through typed arrays, which is what makes it fast.
 */
export class SystemBus implements PhysicalBus {
  private maps: Mapping[] = [];
  private last: Mapping | null = null;

  constructor(private readonly log: Logger = silentLogger) {}

  map(base: number, dev: BusDevice): void {
    const end = base + dev.size;
    for (const m of this.maps)
      if (base < m.end && m.base < end)
        throw new Error(
          `${dev.name} at 0x${base.toString(16)} overlaps ${m.dev.name} at 0x${m.base.toString(16)}`,
        );
    this.maps.push({ base, end, dev });
    this.maps.sort((a, b) => a.base - b.base);
  }

  unmap(dev: BusDevice): void {
    this.maps = this.maps.filter((m) => m.dev !== dev);
    this.last = null;
  }

  find(addr: number, width: number): Mapping | null {
    const l = this.last;
    if (l && addr >= l.base && addr + width <= l.end) return l;
    for (const m of this.maps) {
      if (addr >= m.base && addr + width <= m.end) return (this.last = m);
    }
    return null;
  }

  read(addr: number, width: AccessWidth): number {
    const m = this.find(addr, width);
    if (!m) return -1;
    try {
      return m.dev.read(addr - m.base, width) >>> 0;
    } catch (e) {
      this.log.error(`${m.dev.name}: read at 0x${addr.toString(16)} failed: ${String(e)}`);
      return 0;
    }
  }

  write(addr: number, width: AccessWidth, value: number): boolean {
    const m = this.find(addr, width);
    if (!m) return false;
    try {
      m.dev.write(addr - m.base, width, value);
    } catch (e) {
      this.log.error(`${m.dev.name}: write at 0x${addr.toString(16)} failed: ${String(e)}`);
    }
    return true;
  }

  resetAll(): void {
    for (const m of this.maps) m.dev.reset();
  }
}
