import {
  DeviceId,
  MmioTransport,
  PluginOptionError,
  type DevicePlugin,
  type DtNode,
  type GuestMemory,
  type InterruptLine,
  type Logger,
  type MachineServices,
  type VirtioDevice,
} from '@virtio-desktop/virtio-core';
import type { DeviceEntry } from './manifest.js';
import { ManifestError, oneLine } from './manifest.js';
import { RiscvMap, virtioSlotBase, virtioSlotIrq } from './memory-map.js';
import { resolvePlugin, type ModuleLoader } from './plugins.js';
import type { SystemBus } from './system-bus.js';

/** Where interrupt lines come from: the platform's interrupt controller. */
export interface InterruptSource {
  line(irq: number): InterruptLine;
  readonly phandle: number;
}

/** A virtio device placed in a slot of the virtio-mmio window. */
export interface PlacedDevice {
  readonly id: string;
  readonly plugin: string;
  readonly slot: number;
  readonly base: number;
  readonly irq: number;
  readonly device: VirtioDevice;
  readonly transport: MmioTransport;
}

export interface SlotContext {
  memory: GuestMemory;
  bus: SystemBus;
  irqs: InterruptSource;
  /** Word `slot` holds that slot's InterruptStatus (shared with harts on threads); own words if absent. */
  interruptStatus?: Int32Array;
  log: Logger;
  loadModule: ModuleLoader;
  baseDir?: string;
  /** What the machine offers its devices in code (virtio-power's inventory), in every plugin's context. */
  machine?: MachineServices;
}

/**
 * Owns the virtio-mmio window: loads plugins, creates devices, puts each on a transport in a free slot and
 * maps it on the bus. Slot 0 is kept for virtio-power (DeviceId.Power), which the spec puts at a fixed place.
 */
export class VirtioSlots {
  private readonly placed: (PlacedDevice | undefined)[] = new Array(RiscvMap.virtio.slots);

  constructor(private readonly ctx: SlotContext) {}

  get devices(): PlacedDevice[] {
    return this.placed.filter((d): d is PlacedDevice => d !== undefined);
  }

  /** Create the device of one manifest entry and place it; `where` names the entry in messages. */
  async add(entry: DeviceEntry, where: string): Promise<PlacedDevice> {
    const plugin = await resolvePlugin(entry, where, this.ctx.loadModule);
    let options: unknown;
    try {
      options = plugin.parseOptions(entry.options ?? {});
    } catch (e) {
      if (e instanceof PluginOptionError)
        throw new ManifestError(`${where} (${plugin.name}): ${oneLine(e.message)}`);
      throw new ManifestError(`${where} (${plugin.name}): invalid options: ${oneLine(String(e))}`);
    }
    let device: VirtioDevice;
    try {
      device = await (plugin as DevicePlugin<unknown>).create(options, {
        memory: this.ctx.memory,
        log: this.childLog(entry.id ?? plugin.name),
        baseDir: this.ctx.baseDir,
        machine: this.ctx.machine,
      });
    } catch (e) {
      const msg = oneLine(e instanceof Error ? e.message : String(e));
      throw new ManifestError(`${where} (${plugin.name}): could not create the device: ${msg}`);
    }
    return this.place(device, plugin.name, entry.id, where);
  }

  /** Place an already-created device (hotplug, or hosts that build devices themselves). */
  place(device: VirtioDevice, pluginName: string, id: string | undefined, where = 'device'): PlacedDevice {
    const slot = this.freeSlot(device.deviceId === DeviceId.Power);
    if (slot < 0) throw new ManifestError(`${where}: no free virtio-mmio slot left`);
    const finalId = id ?? `${pluginName}${slot}`;
    if (this.devices.some((d) => d.id === finalId))
      throw new ManifestError(`${where}: id "${finalId}" already in use`);
    const irq = virtioSlotIrq(slot);
    const transport = new MmioTransport(device, {
      memory: this.ctx.memory,
      irq: this.ctx.irqs.line(irq),
      ...(this.ctx.interruptStatus
        ? { interruptStatus: { cells: this.ctx.interruptStatus, index: slot } }
        : {}),
      log: this.childLog(finalId),
    });
    const base = virtioSlotBase(slot);
    this.ctx.bus.map(base, transport);
    const p: PlacedDevice = { id: finalId, plugin: pluginName, slot, base, irq, device, transport };
    this.placed[slot] = p;
    return p;
  }

  /** Take a device out of the machine (hot-unplug); the guest must have been told first. */
  remove(id: string): PlacedDevice | null {
    const p = this.devices.find((d) => d.id === id);
    if (!p) return null;
    this.ctx.bus.unmap(p.transport);
    p.transport.reset();
    this.placed[p.slot] = undefined;
    return p;
  }

  /** Device-tree nodes of every placed device, in slot order. */
  describe(): DtNode[] {
    return this.devices.map((d) =>
      d.transport.describe({ base: d.base, irqs: [d.irq], interruptParent: this.ctx.irqs.phandle }),
    );
  }

  resetAll(): void {
    for (const d of this.devices) d.transport.reset();
  }

  private freeSlot(isPower: boolean): number {
    if (isPower) return this.placed[RiscvMap.powerSlot] ? -1 : RiscvMap.powerSlot;
    for (let s = 0; s < this.placed.length; s++) if (s !== RiscvMap.powerSlot && !this.placed[s]) return s;
    return -1;
  }

  private childLog(id: string): Logger {
    const l = this.ctx.log;
    return {
      debug: (m) => l.debug(`${id}: ${m}`),
      info: (m) => l.info(`${id}: ${m}`),
      warn: (m) => l.warn(`${id}: ${m}`),
      error: (m) => l.error(`${id}: ${m}`),
    };
  }
}
