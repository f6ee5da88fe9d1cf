/**
 * A riscv64 virtio-desktop machine: RAM, harts, PLIC, CLINT, UART, the test finisher and the virtio-mmio
 * window, assembled from a manifest and run by a cooperative loop that yields to the host's event loop
 * (so the same machine runs in Node and in a browser tab).
 */
import { EventEmitter } from 'eventemitter3';
import {
  DeviceId,
  Ram,
  silentLogger,
  type Logger,
  type MachineInventory,
  type SavedState,
  type VirtioDevice,
} from '@virtio-desktop/virtio-core';
import { buildFdt } from '../fdt.js';
import { ManifestError, type DeviceEntry, type Manifest } from '../manifest.js';
import { RiscvMap } from '../memory-map.js';
import { resolvePart, type ModuleLoader } from '../plugins.js';
import { TestFinisher } from '../platform/test-finisher.js';
import { Uart16550 } from '../platform/uart16550.js';
import { SystemBus } from '../system-bus.js';
import { VirtioSlots, type PlacedDevice } from '../virtio-slots.js';
import {
  BootError,
  TRAMPOLINE_STRIDE,
  fwDynamicInfo,
  load,
  parseImageHeader,
  planLayout,
  trampoline,
  type BootLayout,
} from './boot.js';
import { combineParts } from './default-parts.js';
import { buildDeviceTree } from './device-tree.js';
import {
  Mip,
  StopReason,
  type ClintPart,
  type ClockPart,
  type HartPart,
  type PlicPart,
  type RiscvParts,
} from './parts.js';
import { HartState, Sbi, type SbiHost } from './sbi.js';
import { MachineThreads, sharedRegisters } from './threads.js';
import { restoreSnapshot, takeSnapshot, type MachineInternals, type SnapshotOptions } from './snapshot.js';
import type { OpenedSnapshot } from '../snapshot-file.js';

export interface BootImages {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  /** An M-mode firmware (OpenSBI fw_dynamic.bin); absent: the host implements SBI. */
  firmware?: Uint8Array;
}

export interface MachineEvents {
  /** Bytes the guest wrote to its console (UART or SBI console). */
  console: (bytes: Uint8Array) => void;
  /** The machine stopped for good. */
  poweroff: (code: number) => void;
  /** The guest rebooted; the machine has reset and is booting again. */
  reboot: () => void;
}

export type ExitReason = { kind: 'poweroff'; code: number } | { kind: 'stopped'; reason: string };

/**
 * What the machine uses of a virtio-power device (DeviceId.Power), structurally, so that the machine does not
 * depend on the package: its events, host requests and the inventory it serves.
 */
export interface PowerDeviceLike {
  on(event: 'poweroff' | 'reboot', fn: () => void): unknown;
  on(event: 'ack', fn: (a: { seq: number; accepted: boolean }) => void): unknown;
  off(event: 'ack', fn: (a: { seq: number; accepted: boolean }) => void): unknown;
  requestShutdown(): number;
  requestReboot(): number;
  readonly acceptsHostRequests: boolean;
  inventoryChanged(): void;
  announceHotplug(a: {
    kind: 'add' | 'remove';
    deviceId: number;
    base: number;
    size: number;
    irq: number;
  }): number;
}

function isPowerDevice(d: VirtioDevice): d is VirtioDevice & PowerDeviceLike {
  const p = d as unknown as Partial<PowerDeviceLike>;
  return (
    d.deviceId === DeviceId.Power && typeof p.on === 'function' && typeof p.requestShutdown === 'function'
  );
}

export interface RiscvMachineOptions {
  manifest: Manifest;
  /**
   * The architecture parts in code; absent: resolved from the manifest's `cpu`, `irqchip` and `timer`
   * entries (the defaults where it names none), through `loadModule` like device packages.
   */
  parts?: RiscvParts;
  images: BootImages;
  loadModule: ModuleLoader;
  log?: Logger;
  baseDir?: string;
  /** Instructions a hart runs before the loop looks at timers and other harts. */
  slice?: number;
  /**
   * Milliseconds of guest execution between yields to the host event loop (default 4: input, the
   * viewer and disk completions wait up to this long while the guest is busy; 10 gave a 12.7 ms p99
   * from host input event to the used ring, 4 gives 5.4 ms, at no measurable cost on a shell loop).
   */
  yieldEveryMs?: number;
  /** Each hart on its own worker thread (overrides the manifest's `threads`); see threads.ts. */
  threads?: boolean;
}

const INTC_PHANDLE = (h: number): number => 1 + h;
const PLIC_PHANDLE = 0x100;

export class RiscvMachine extends EventEmitter<MachineEvents> {
  readonly ram: Ram;
  readonly bus: SystemBus;
  readonly slots: VirtioSlots;
  readonly uart: Uart16550;
  readonly harts: HartPart[] = [];
  readonly plic: PlicPart;
  readonly clint: ClintPart;
  readonly clock: ClockPart;
  readonly log: Logger;
  private readonly sbi: Sbi | null;
  private readonly state: HartState[] = [];
  private readonly waiting: boolean[] = [];
  /** Supervisor timer deadline per hart (host SBI). */
  private readonly stimecmp: number[] = [];
  private readonly consoleIn: number[] = [];
  private layout: BootLayout | null = null;
  private exit: ExitReason | null = null;
  private rebootRequested = false;
  private wake: (() => void) | null = null;
  private readonly slice: number;
  private readonly yieldEveryMs: number;
  /** The harts' workers when the machine runs on threads (then `harts` is empty). */
  readonly threads: MachineThreads | null = null;
  private clintTimer: ReturnType<typeof setTimeout> | null = null;
  /** Set while a snapshot is taken: the run loop waits for it before running a hart again. */
  private paused: Promise<void> | null = null;
  /** Harts on threads: the states of a restore, for the workers once run() has spawned them. */
  private threadedRestore: SavedState[] | null = null;
  /** Restored from a snapshot: run() continues the saved state instead of booting. */
  private restored = false;

  private constructor(private readonly opts: RiscvMachineOptions & { parts: RiscvParts }) {
    super();
    const m = opts.manifest;
    this.log = opts.log ?? silentLogger;
    this.slice = opts.slice ?? 20_000;
    this.yieldEveryMs = opts.yieldEveryMs ?? 4;
    const tp = opts.parts.threads;
    let threaded = opts.threads ?? m.threads;
    if (threaded && (m.clock !== 'wall' || !tp || typeof SharedArrayBuffer === 'undefined')) {
      threaded = false;
      this.log.info(
        m.clock !== 'wall'
          ? 'threads: off: the instruction clock runs every hart on one thread (repeatable)'
          : 'threads: off: this CPU part or host cannot run harts on threads',
      );
    }
    this.ram = new Ram(
      RiscvMap.ram.base,
      m.memory,
      threaded ? tp!.allocateSharedRam(m.memory, m.cpus) : opts.parts.allocateRam?.(m.memory, m.cpus),
    );
    this.bus = new SystemBus(this.log);
    this.clock = opts.parts.createClock(m.clock);
    const hostSbi = !opts.images.firmware;
    const intcPhandles = Array.from({ length: m.cpus }, (_, h) => INTC_PHANDLE(h));
    if (threaded)
      this.threads = new MachineThreads({
        harts: m.cpus,
        part: tp!,
        buffer: this.ram.buffer,
        ramBase: this.ram.base,
        ramSize: this.ram.size,
        hostSbi,
        slice: this.slice,
        bus: this.bus,
        log: this.log,
        afterWrite: (addr) => {
          if (addr >= RiscvMap.clint.base && addr < RiscvMap.clint.base + RiscvMap.clint.size)
            this.scheduleClint();
        },
        sbi: (h) => this.sbi?.handle(h),
        fail: (msg) => this.stop(msg),
      });
    for (let h = 0; h < m.cpus; h++) {
      if (!threaded)
        this.harts.push(
          opts.parts.createHart({
            hartId: h,
            ram: { base: this.ram.base, size: this.ram.size, buffer: this.ram.buffer },
            bus: this.bus,
            time: () => this.clock.now(),
            hostSbi,
          }),
        );
      this.state.push(HartState.Stopped);
      this.waiting.push(false);
      this.stimecmp.push(Infinity);
    }
    // Interrupt sinks that also wake a waiting hart (on threads: Atomics on the hart's words).
    const sinks =
      this.threads?.sinks ??
      this.harts.map((hart, h) => ({
        setPending: (bit: number, level: boolean) => {
          hart.setPending(bit, level);
          if (level) this.wakeHart(h);
        },
      }));
    this.plic = opts.parts.createPlic({
      sources: RiscvMap.plicSources,
      harts: sinks,
      phandle: PLIC_PHANDLE,
      intcPhandles,
    });
    this.clint = opts.parts.createClint({ harts: sinks, clock: this.clock, intcPhandles });
    this.uart = new Uart16550(this.plic.line(RiscvMap.uart.irq), (b) =>
      this.emit('console', new Uint8Array([b])),
    );
    if (this.threads)
      this.threads.shareRegisters(sharedRegisters(m.cpus, this.threads.registerCells, this.plic, this.uart));
    this.bus.map(
      RiscvMap.test.base,
      new TestFinisher((a) => (a.kind === 'reboot' ? this.requestReboot() : this.powerOff(a.code))),
    );
    this.bus.map(RiscvMap.clint.base, this.clint);
    this.bus.map(RiscvMap.plic.base, this.plic);
    this.bus.map(RiscvMap.uart.base, this.uart);
    this.slots = new VirtioSlots({
      memory: this.ram,
      bus: this.bus,
      irqs: { phandle: PLIC_PHANDLE, line: (n) => this.plic.line(n) },
      ...(this.threads ? { interruptStatus: this.threads.registerCells } : {}),
      log: this.log,
      loadModule: opts.loadModule,
      baseDir: opts.baseDir,
      machine: { name: m.name, uuid: m.uuid, inventory: () => this.inventory() },
    });
    this.sbi = hostSbi ? new Sbi(this.sbiHost(sinks)) : null;
  }

  /** The machine as virtio-power describes it to the guest (spec/virtio-power.md, inventory). */
  inventory(): MachineInventory & {
    devices: (MachineInventory['devices'][number] & { self: boolean })[];
    irqchipBase: number;
  } {
    const m = this.opts.manifest;
    const parts = this.opts.parts;
    return {
      harts: m.cpus,
      ramBase: this.ram.base,
      ramSize: this.ram.size,
      // The controller that the entries' irq numbers refer to (the inventory's irqchip_base).
      irqchipBase: RiscvMap.plic.base,
      interruptController: parts.interruptControllerKind ?? 'RiscvPlic',
      timer: parts.timerKind ?? 'RiscvAclintMtimer',
      specVersion: [0, 1] as const,
      devices: this.slots.devices.map((d) => ({
        deviceId: d.device.deviceId,
        base: d.base,
        size: d.transport.size,
        irq: d.irq,
        name: d.plugin,
        transport: 'VirtioMmio' as const,
        hotplugged: this.hotplugged.has(d.id),
        self: d.device.deviceId === DeviceId.Power,
      })),
    };
  }

  /** The virtio-power device, if the machine has one. */
  get power(): (VirtioDevice & PowerDeviceLike) | undefined {
    const d = this.slots.devices.find((p) => isPowerDevice(p.device))?.device;
    return d && isPowerDevice(d) ? d : undefined;
  }

  /** Devices announced by hotplug since the guest booted (the inventory's HOTPLUGGED flag). */
  private readonly hotplugged = new Set<string>();
  /** Devices added at run time, not in the manifest (a snapshot could not be restored). */
  private readonly added = new Set<string>();

  /**
   * Add a device to the running machine: create it, place it, list it in the inventory, then announce it
   * through virtio-power so the guest's driver registers it.
   */
  async hotplug(entry: DeviceEntry): Promise<PlacedDevice> {
    const power = this.power;
    if (!power) throw new ManifestError('hotplug needs a virtio-power device in the machine');
    const placed = await this.slots.add(entry, 'hotplug');
    this.hotplugged.add(placed.id);
    this.added.add(placed.id);
    power.inventoryChanged();
    power.announceHotplug({
      kind: 'add',
      deviceId: placed.device.deviceId,
      base: placed.base,
      size: placed.transport.size,
      irq: placed.irq,
    });
    return placed;
  }

  /**
   * Take a hotplugged device out of the running machine: announce the removal through virtio-power, wait
   * for the guest's driver to let go of it (its ack, or `timeoutMs`), then unmap it. Only devices added by
   * hotplug can go: the guest's driver owns those, the device tree owns the rest.
   */
  async unplug(id: string, timeoutMs = 5000): Promise<{ acked: boolean }> {
    const power = this.power;
    if (!power) throw new ManifestError('unplug needs a virtio-power device in the machine');
    const p = this.slots.devices.find((d) => d.id === id);
    if (!p) throw new ManifestError(`unplug: no device "${id}" in the machine`);
    if (!this.hotplugged.has(id))
      throw new ManifestError(
        `unplug: "${id}" was not hotplugged since the guest booted; only such devices can be removed`,
      );
    let onAck: ((a: { seq: number; accepted: boolean }) => void) | undefined;
    const acked = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      let seq = -1;
      onAck = (a) => {
        if (a.seq !== seq) return;
        clearTimeout(timer);
        resolve(true);
      };
      power.on('ack', onAck);
      seq = power.announceHotplug({
        kind: 'remove',
        deviceId: p.device.deviceId,
        base: p.base,
        size: p.transport.size,
        irq: p.irq,
      });
    });
    if (onAck) power.off('ack', onAck);
    this.slots.remove(id);
    this.hotplugged.delete(id);
    this.added.delete(id);
    power.inventoryChanged();
    return { acked };
  }

  /** Build a machine from a validated manifest; device problems throw a one-line ManifestError. */
  static async create(opts: RiscvMachineOptions): Promise<RiscvMachine> {
    const man = opts.manifest;
    const parts: RiscvParts =
      opts.parts ??
      combineParts(
        await resolvePart('riscv-cpu', man.cpu, 'cpu', opts.loadModule),
        await resolvePart('riscv-irqchip', man.irqchip, 'irqchip', opts.loadModule),
        await resolvePart('riscv-timer', man.timer, 'timer', opts.loadModule),
      );
    const m = new RiscvMachine({ ...opts, parts });
    for (const [i, d] of opts.manifest.devices.entries()) await m.slots.add(d, `devices[${i}]`);
    const power = m.power;
    if (power) {
      // The guest's driver asks from inside an MMIO write: only set flags here, the run loop acts.
      power.on('poweroff', () => m.powerOff(0));
      power.on('reboot', () => m.requestReboot());
    }
    return m;
  }

  get devices(): PlacedDevice[] {
    return this.slots.devices;
  }

  /** Find a device by its manifest id or plugin name. */
  device<T extends VirtioDevice = VirtioDevice>(idOrPlugin: string): T | undefined {
    return this.devices.find((d) => d.id === idOrPlugin || d.plugin === idOrPlugin)?.device as T | undefined;
  }

  /** The flattened device tree for the current configuration. */
  dtb(): Uint8Array {
    const m = this.opts.manifest;
    const soc = [
      new TestFinisher(() => {}).describe({ base: RiscvMap.test.base, irqs: [], interruptParent: 0 }),
      this.clint.describe({ base: RiscvMap.clint.base, irqs: [], interruptParent: 0 }),
      this.plic.describe({ base: RiscvMap.plic.base, irqs: [], interruptParent: 0 }),
      this.uart.describe({
        base: RiscvMap.uart.base,
        irqs: [RiscvMap.uart.irq],
        interruptParent: PLIC_PHANDLE,
      }),
      ...this.slots.describe(),
    ];
    return buildFdt(
      buildDeviceTree({
        harts: m.cpus,
        isaExtensions: this.opts.parts.isaExtensions,
        mmuType: this.opts.parts.mmuType,
        ram: { base: this.ram.base, size: this.ram.size },
        soc,
        intcPhandle: INTC_PHANDLE,
        bootargs: m.boot.cmdline,
        initrd: this.layout?.initrd,
        stdoutPath: `/soc/serial@${RiscvMap.uart.base.toString(16)}`,
        // The instruction clock's runs repeat exactly: no seed there (the guest then makes its own).
        ...(m.clock === 'instructions' ? {} : { rngSeed: crypto.getRandomValues(new Uint8Array(64)) }),
        reserveTrampolines: this.sbi !== null,
        model: `virtio-desktop riscv64 (${m.name})`,
      }),
    );
  }

  /** Bytes typed on the console: to the UART, and to the SBI console for early output. */
  consoleInput(bytes: Uint8Array): void {
    this.uart.input(bytes);
    for (const b of bytes) if (this.consoleIn.length < 4096) this.consoleIn.push(b);
    this.wakeAll();
  }

  private hostPause: (() => void) | null = null;

  /**
   * Hold the harts between two slices until resume() (devices and timers keep their state; on the wall
   * clock the guest sees the time that passed). Not with harts on threads, nor during a snapshot.
   */
  pause(): void {
    if (this.hostPause || this.threads) return;
    let release = (): void => {};
    this.paused = new Promise<void>((r) => (release = r));
    this.hostPause = () => {
      this.paused = null;
      release();
    };
  }

  resume(): void {
    const r = this.hostPause;
    this.hostPause = null;
    r?.();
  }

  get isPaused(): boolean {
    return this.hostPause !== null;
  }

  /** Stop the machine from the host (hard stop). */
  stop(reason: string): void {
    if (!this.exit) this.exit = { kind: 'stopped', reason };
    this.resume();
    this.wakeAll();
  }

  powerOff(code = 0): void {
    if (!this.exit) this.exit = { kind: 'poweroff', code };
    this.wakeAll();
  }

  requestReboot(): void {
    this.rebootRequested = true;
    this.wakeAll();
  }

  /** Boot and run until power-off or stop. Reboots happen inside. */
  async run(): Promise<ExitReason> {
    if (this.threads) return this.runThreaded(this.threads);
    if (!this.restored) this.boot();
    this.restored = false;
    for (;;) {
      await this.runUntilEvent();
      if (this.exit) break;
      if (this.rebootRequested) {
        this.rebootRequested = false;
        this.log.info('guest requested reboot');
        this.resetAll();
        this.boot();
        this.emit('reboot');
      }
    }
    const exit = this.exit as ExitReason;
    if (exit.kind === 'poweroff') this.emit('poweroff', exit.code);
    return exit;
  }

  /** run() on threads: the workers run the harts; this thread waits for an exit or a reboot. */
  private async runThreaded(mt: MachineThreads): Promise<ExitReason> {
    const tpm = RiscvMap.timebaseFrequency / 1000;
    await mt.spawn(performance.timeOrigin + performance.now() - this.clock.now() / tpm, tpm);
    this.log.info(`threads: ${this.state.length} harts on workers${mt.jit ? '' : ' (interpreted)'}`);
    const restored = this.threadedRestore;
    this.threadedRestore = null;
    if (restored) {
      try {
        await mt.load(
          restored,
          this.state.map((s) => s === HartState.Started),
          this.stimecmp,
        );
      } catch (e) {
        await mt.shutdown();
        throw e;
      }
      this.restored = false;
      this.scheduleClint();
    } else if (!this.exit) this.boot();
    for (;;) {
      while (!this.exit && !this.rebootRequested) await new Promise<void>((r) => (this.wake = r));
      if (this.exit) break;
      this.rebootRequested = false;
      this.log.info('guest requested reboot');
      await mt.parkAll();
      this.resetAll();
      this.boot();
      this.emit('reboot');
    }
    if (this.clintTimer) clearTimeout(this.clintTimer);
    await mt.shutdown();
    const exit = this.exit as ExitReason;
    if (exit.kind === 'poweroff') this.emit('poweroff', exit.code);
    return exit;
  }

  /** On threads: refresh the CLINT's MTIP now and at its next deadline (no polling). */
  private scheduleClint(): void {
    if (this.clintTimer) clearTimeout(this.clintTimer);
    this.clintTimer = null;
    this.clint.update();
    const d = this.clint.nextDeadline();
    if (d === Infinity || this.exit) return;
    const ms = ((d - this.clock.now()) / RiscvMap.timebaseFrequency) * 1000;
    this.clintTimer = setTimeout(() => this.scheduleClint(), Math.min(Math.max(ms, 0), 1000));
  }

  private boot(): void {
    const { kernel, initrd, firmware } = this.opts.images;
    const info = parseImageHeader(kernel);
    this.layout = planLayout(
      { base: this.ram.base, size: this.ram.size },
      info,
      initrd?.length ?? 0,
      !!firmware,
    );
    const l = this.layout;
    load(this.ram, l.kernel, kernel, 'kernel');
    if (initrd && l.initrd) load(this.ram, l.initrd.start, initrd, 'initrd');
    const dtb = this.dtb();
    if (dtb.length > 64 * 1024) throw new BootError('device tree larger than 64 KiB');
    load(this.ram, l.dtb, dtb, 'device tree');
    if (firmware) {
      load(this.ram, l.firmware!, firmware, 'firmware');
      load(this.ram, l.scratch, fwDynamicInfo(l.kernel, 0), 'fw_dynamic_info');
      // OpenSBI's fw_dynamic expects every hart at its entry with a0 = hartid, a1 = DTB, a2 = info.
      if (this.threads) {
        for (let h = 0; h < this.state.length; h++) {
          this.threads.start(h, l.firmware!, [BigInt(h), BigInt(l.dtb), BigInt(l.scratch)]);
          this.state[h] = HartState.Started;
        }
        this.scheduleClint();
      }
      this.harts.forEach((hart, h) => {
        hart.reset(l.firmware!);
        hart.setX(10, BigInt(h));
        hart.setX(11, BigInt(l.dtb));
        hart.setX(12, BigInt(l.scratch));
        this.state[h] = HartState.Started;
      });
    } else {
      this.startHartAt(0, l.kernel, BigInt(l.dtb));
    }
  }

  /**
   * Save the running machine (see snapshot.ts and the README's Snapshots): the harts pause between two
   * slices, devices finish host-side work, everything is captured, and the harts resume.
   */
  snapshot(o: SnapshotOptions = {}): Promise<Uint8Array> {
    return takeSnapshot(this, this.internals(), o);
  }

  /**
   * Put a snapshot back on this machine, created from the same manifest and not yet run; run() then
   * continues from it. A bad snapshot throws a one-line SnapshotError; the machine must not be run then.
   * `file` may be opened beforehand (openSnapshot), so that its sections inflate while the machine is built.
   */
  restore(file: Uint8Array | OpenedSnapshot, o: SnapshotOptions = {}): Promise<void> {
    return restoreSnapshot(this, this.internals(), file, o);
  }

  /**
   * What the CPU learnt about the guest's code (a JIT's working set), to keep beside the kernel and give
   * to {@link warmCode} when the same kernel boots again; null when the CPU part keeps nothing (or the
   * harts run on threads).
   */
  codeProfile(): SavedState | null {
    const p = this.opts.parts;
    return p.saveCode && this.harts.length ? p.saveCode(this.harts) : null;
  }

  /** Give the CPU a {@link codeProfile} from an earlier run: a hint, ignored where it does not apply. */
  warmCode(s: SavedState): void {
    const p = this.opts.parts;
    if (p.restoreCode && this.harts.length) p.restoreCode(this.harts, s);
  }

  private internals(): MachineInternals {
    return {
      manifest: this.opts.manifest,
      baseDir: this.opts.baseDir,
      parts: this.opts.parts,
      state: this.state,
      waiting: this.waiting,
      stimecmp: this.stimecmp,
      consoleIn: this.consoleIn,
      hotplugged: this.added,
      layout: () => this.layout,
      setLayout: (l) => (this.layout = l),
      pause: () => {
        let release = (): void => {};
        this.paused = new Promise<void>((r) => (release = r));
        return () => {
          this.paused = null;
          release();
        };
      },
      markRestored: () => (this.restored = true),
      setThreadedRestore: (states) => (this.threadedRestore = states),
    };
  }

  /** Host SBI: start hart h in S-mode at `entry` through its trampoline, a0 = h, a1 = `a1`. */
  private startHartAt(h: number, entry: number, a1: bigint): void {
    const at = this.layout!.scratch + h * TRAMPOLINE_STRIDE;
    load(this.ram, at, new Uint8Array(trampoline(entry).buffer), 'trampoline');
    this.state[h] = HartState.Started;
    if (this.threads) return this.threads.start(h, at, [BigInt(h), a1]);
    const hart = this.harts[h];
    hart.reset(at);
    hart.flushICache();
    hart.setX(10, BigInt(h));
    hart.setX(11, a1);
    this.state[h] = HartState.Started;
    this.waiting[h] = false;
  }

  private resetAll(): void {
    this.ram.bytes.fill(0);
    this.bus.resetAll();
    this.slots.resetAll();
    // After a reboot hotplugged devices are boot devices (spec VD-804): the device tree built for the
    // next boot describes every placed device, and the inventory stops flagging them, so firmware and
    // the next kernel find them without virtio-power (and its driver does not register them twice).
    if (this.hotplugged.size) {
      this.hotplugged.clear();
      this.power?.inventoryChanged();
    }
    for (const hart of this.harts) hart.reset(this.ram.base);
    this.state.fill(HartState.Stopped);
    this.waiting.fill(false);
    this.stimecmp.fill(Infinity);
  }

  private wakeHart(h: number): void {
    this.waiting[h] = false;
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
  }

  private wakeAll(): void {
    for (let h = 0; h < this.waiting.length; h++) this.waiting[h] = false;
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
  }

  /** Run harts until something needs the outer loop (exit or reboot), yielding to the host regularly. */
  private async runUntilEvent(): Promise<void> {
    const harts = this.harts;
    const n = harts.length;
    // With the instruction clock an idle guest never waits on a host timer (idle() skips to the next
    // deadline), so the loop must still give the host a turn every yieldEveryMs: the control socket,
    // console input and background compiles (installed on a later turn) depend on it.
    let lastYield = performance.now();
    while (!this.exit && !this.rebootRequested) {
      if (this.paused) {
        await this.paused;
        continue;
      }
      const until = performance.now() + this.yieldEveryMs;
      let busy = false;
      do {
        busy = false;
        for (let h = 0; h < n; h++) {
          if (this.state[h] !== HartState.Started || this.waiting[h]) continue;
          busy = true;
          const hart = harts[h];
          const before = hart.instret;
          const r = hart.run(this.slice);
          this.clock.advance(hart.instret - before);
          if (r === StopReason.Sbi) this.sbi?.handle(h);
          else if (r === StopReason.Wfi) this.waiting[h] = true;
          if (n > 1) hart.clearReservation();
          if (this.exit || this.rebootRequested) return;
        }
        this.updateTimers();
      } while (busy && performance.now() < until);
      if (busy) await yieldToHost();
      else {
        await this.idle();
        if (performance.now() - lastYield < this.yieldEveryMs) continue;
        await yieldToHost();
      }
      lastYield = performance.now();
    }
  }

  private updateTimers(): void {
    this.clint.update();
    const now = this.clock.now();
    for (let h = 0; h < this.harts.length; h++) {
      if (this.sbi && now >= this.stimecmp[h]) {
        this.harts[h].setPending(Mip.STIP, true);
        this.waiting[h] = false;
      }
      // Sstc: the hart raises STIP itself; it only needs waking.
      if (now >= this.harts[h].timerDeadline) this.waiting[h] = false;
    }
  }

  /** Every hart waits for an interrupt: sleep until the next timer deadline or a device event. */
  private async idle(): Promise<void> {
    let deadline = this.clint.nextDeadline();
    for (const d of this.stimecmp) deadline = Math.min(deadline, d);
    for (const hart of this.harts) deadline = Math.min(deadline, hart.timerDeadline);
    if (this.clock.deterministic) {
      // Skipping to the next timer while a disk request is still on the host would make it look, to
      // the guest, as if the request took that long (seconds of jiffies per millisecond): wait for it.
      if (this.slots.devices.some((d) => (d.device.requestsInFlight ?? 0) > 0)) {
        await this.sleep(1);
        return;
      }
      if (deadline !== Infinity) this.clock.skipTo(deadline);
      this.updateTimers();
      if (this.harts.some((_, h) => !this.waiting[h] && this.state[h] === HartState.Started)) return;
      // Nothing will ever happen by itself: wait for the host (console input, a device, a stop).
      if (deadline === Infinity) await this.sleep(50);
      else this.wakeAll();
      return;
    }
    const ticks = deadline - this.clock.now();
    const ms = Math.max(0, Math.min(50, (ticks / RiscvMap.timebaseFrequency) * 1000));
    await this.sleep(ms);
    this.updateTimers();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private sbiHost(sinks: { setPending(bit: number, level: boolean): void }[]): SbiHost {
    const harts =
      this.threads?.sbiHarts ??
      this.harts.map((hart, h) => ({
        getX: (i: number) => hart.getX(i),
        setX: (i: number, v: bigint) => hart.setX(i, v),
        setPending: (bit: number, level: boolean) => sinks[h].setPending(bit, level),
        flushTlb: () => hart.flushTlb(),
        flushICache: () => hart.flushICache(),
      }));
    return {
      harts,
      memory: this.ram,
      log: this.log,
      now: () => this.clock.now(),
      setTimer: (h, deadline) => {
        this.stimecmp[h] = deadline;
        this.threads?.controls[h].setTimer(deadline);
        (this.threads ? sinks[h] : this.harts[h]).setPending(Mip.STIP, this.clock.now() >= deadline);
      },
      hartState: (h) => this.state[h],
      startHart: (h, addr, opaque) => this.startHartAt(h, addr, opaque),
      stopHart: (h) => {
        this.state[h] = HartState.Stopped;
        this.threads?.park(h);
      },
      systemReset: (kind, reason) => {
        this.log.info(`guest requested ${kind} (reason ${reason})`);
        if (kind === 'shutdown') this.powerOff(0);
        else this.requestReboot();
      },
      consoleWrite: (bytes) => this.emit('console', bytes),
      consoleRead: (max) => new Uint8Array(this.consoleIn.splice(0, max)),
    };
  }
}

/**
 * Let the host event loop run (I/O, timers, UI) between bursts of guest execution. Browsers have no
 * setImmediate, and their setTimeout(0) waits at least 4 ms once nested (a quarter of each 10 ms slice
 * lost): a message on a MessageChannel comes back after the tasks already queued, without that clamp.
 */
const yieldToHost: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : typeof MessageChannel === 'function'
      ? (() => {
          const ch = new MessageChannel();
          const waiting: (() => void)[] = [];
          ch.port1.onmessage = () => waiting.shift()?.();
          return () =>
            new Promise<void>((resolve) => {
              waiting.push(resolve);
              ch.port2.postMessage(0);
            });
        })()
      : () => new Promise((resolve) => setTimeout(resolve, 0));
