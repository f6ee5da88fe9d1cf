import { EventEmitter } from 'eventemitter3';
import {
  ConfigSpace,
  StateReader,
  bit,
  silentLogger,
  type DescriptorChain,
  type Logger,
  type SavedState,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import {
  AckResult,
  CONFIG_SIZE,
  Command,
  ConfigOffset,
  EVENT_SIZE,
  EventType,
  HostRequest,
  IrqType,
  MAX_READ,
  PowerFeature,
  QueueIndex,
  REQUEST_SIZE,
  RESPONSE_HEADER_SIZE,
  RequestType,
  Status,
  Transport,
  VIRTIO_ID_POWER,
  decodeRequest,
  encodeEvent,
  encodeInventory,
  encodeResponse,
  parseUuid,
  type HostRequestCode,
  type Inventory,
  type IrqTypeCode,
  type PowerEvent,
  type StatusCode,
} from './protocol.js';

/** What the machine's inventory provider returns; name and uuid come from the options when set there. */
export type InventorySnapshot = Omit<Inventory, 'name' | 'uuid'> & Partial<Pick<Inventory, 'name' | 'uuid'>>;
export type InventoryProvider = () => InventorySnapshot;

export interface PowerDeviceOptions {
  /** Returns the machine as it is now. Called lazily, once per inventory generation. */
  inventory?: InventoryProvider;
  /** Machine name in the inventory (overrides the provider's). */
  name?: string;
  /** Machine UUID (overrides the provider's); random per device when neither gives one. */
  uuid?: string | Uint8Array;
  log?: Logger;
  /** Which optional features to offer (all by default); a way to model a minimal device. */
  offer?: { inventory?: boolean; hostRequests?: boolean; hotplug?: boolean };
  /** Undelivered hotplug events kept while the driver posts no buffers (default 64). */
  maxPendingEvents?: number;
  /**
   * Milliseconds after a POWER_OFF request ({@link VirtioPowerDevice.requestShutdown}) at which the device
   * insists with FORCE_POWER_OFF if the guest has not powered off by then (spec PD-12; VD-803); 0: never.
   * Default {@link DEFAULT_FORCE_AFTER_MS}.
   */
  forceAfterMs?: number;
}

/** The default time a guest gets to act on a power-button press before the forced request follows. */
export const DEFAULT_FORCE_AFTER_MS = 15_000;

export interface HotplugAnnouncement {
  kind: 'add' | 'remove';
  /** Virtio device ID of the device added or removed. */
  deviceId: number;
  /** virtio-mmio: window address; virtio-pci: the function's address (protocol.ts `pciAddress`). */
  base: number;
  size: number;
  /** Interrupt number at the controller that serves virtio-power (PLIC source, GIC SPI, I/O APIC pin). */
  irq: number;
  /** Trigger of `irq`, default LevelHigh; None when the device has no interrupt. */
  irqType?: IrqTypeCode;
  /** Default VirtioMmio. */
  transport?: keyof typeof Transport;
}

export type AckKind = 'poweroff' | 'reboot' | 'add' | 'remove';

export interface AckInfo {
  seq: number;
  kind: AckKind;
  /** The guest acted on it (false: it refused or could not). */
  accepted: boolean;
  /**
   * Set when no acknowledgement will come from the guest: the event was dropped (queue full: the guest
   * learns of the change from EVENTS_LOST and the inventory), or the driver reset the device (a new driver
   * starts from the inventory). A host waiting to unmap a removed device stops waiting.
   */
  dropped?: 'overflow' | 'reset';
}

/** How the guest asked: the config `command` register (Linux's sys-off path) or a requestq message. */
export type PowerVia = 'command' | 'request';

export interface PowerDeviceEvents {
  /** The guest has finished shutting down and asks the host to power the machine off now. */
  poweroff: (via: PowerVia) => void;
  /** The guest has finished shutting down and asks the host to reset the machine now. */
  reboot: (via: PowerVia) => void;
  /** The guest acknowledged a host request or a hotplug event. */
  ack: (info: AckInfo) => void;
}

/**
 * Delivered hotplug events remembered until acknowledged. A driver that never acks would otherwise grow
 * the set without bound; past this the oldest is reported to the host as dropped (spec PD-15 allows it).
 */
const MAX_OUTSTANDING = 1024;
/** Guest-caused log lines allowed in a burst before they are limited to one a second. */
const GUEST_WARN_BURST = 20;

const nextSeq = (s: number): number => (s >= 0xffffffff ? 1 : s + 1);

const eventsLost = (): PowerEvent => ({
  type: EventType.EventsLost,
  transport: 0,
  irqType: IrqType.None,
  seq: 0,
  deviceId: 0,
  irq: 0,
  base: 0,
  size: 0,
});

/**
 * The virtio-power device model: guest power-off/reboot, host shutdown/reboot requests, the machine
 * inventory and hotplug notifications, as specified in spec/virtio-power.md.
 */
export class VirtioPowerDevice extends EventEmitter<PowerDeviceEvents> implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_POWER;
  readonly features: bigint;
  readonly queueSizes = [16, 64];
  readonly configSize = CONFIG_SIZE;

  private readonly log: Logger;
  private warnTokens = GUEST_WARN_BURST;
  private warnAt = 0;
  private warnsDropped = 0;
  private readonly provider: InventoryProvider | undefined;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  private readonly name: string | undefined;
  /** The UUID from the options, which wins over the provider's. */
  private readonly optUuid: Uint8Array | undefined;
  /** Used when neither the options nor the provider give one (random: a snapshot keeps it). */
  private uuid: Uint8Array;
  private readonly maxPending: number;
  private ctx: VirtioDeviceContext | null = null;

  private readonly forceAfterMs: number;
  /** Pending escalation of a POWER_OFF to FORCE_POWER_OFF, and when it fires (performance.now()). */
  private forceTimer: ReturnType<typeof setTimeout> | null = null;
  private forceAt = 0;
  private hostRequest: HostRequestCode = HostRequest.None;
  private hostRequestSeq = 0;
  private seq = 0;
  private generation = 1;
  private blob: Uint8Array | null = null;
  /**
   * Undelivered events in order; an EVENTS_LOST marker stands where events were dropped, so everything
   * queued before the drop is still delivered before it (PD-13, PD-14). At most maxPending real events, and never
   * two markers in a row, so the array holds at most 2 * maxPending + 1 entries.
   */
  private pending: PowerEvent[] = [];
  private pendingReal = 0;
  /** Hotplug events sent or queued and not yet acknowledged, by seq. */
  private outstanding = new Map<number, 'add' | 'remove'>();
  /** Instance (the DEVICE_ADDED seq) of each hotplugged device, by base: a guest tells a re-add from a stale one. */
  private readonly instances = new Map<number, number>();

  constructor(opts: PowerDeviceOptions = {}) {
    super();
    this.log = opts.log ?? silentLogger;
    this.provider = opts.inventory;
    this.name = opts.name;
    this.optUuid = opts.uuid === undefined ? undefined : parseUuid(opts.uuid);
    this.uuid = this.optUuid ?? parseUuid(globalThis.crypto.randomUUID());
    this.maxPending = opts.maxPendingEvents ?? 64;
    const force = opts.forceAfterMs ?? DEFAULT_FORCE_AFTER_MS;
    this.forceAfterMs = Number.isFinite(force) && force > 0 ? force : 0;
    const o = opts.offer ?? {};
    let f = 0n;
    if (o.inventory ?? true) f |= bit(PowerFeature.Inventory);
    if (o.hostRequests ?? true) f |= bit(PowerFeature.HostRequests);
    if (o.hotplug ?? true) f |= bit(PowerFeature.Hotplug);
    this.features = f;
  }

  // ----------------------------------------------------------------------------------------- host API

  /** True while a driver runs that negotiated HOST_REQUESTS: a request will be seen and acted on. */
  get acceptsHostRequests(): boolean {
    return this.has(PowerFeature.HostRequests);
  }

  /** The pending host request and its seq (request 0 when none). */
  get pendingHostRequest(): { request: HostRequestCode; seq: number } {
    return { request: this.hostRequest, seq: this.hostRequestSeq };
  }

  /**
   * Ask the guest to shut down in an orderly way. Returns the request's seq; an 'ack' with that seq
   * follows when the guest starts, then 'poweroff' when it is done. If {@link acceptsHostRequests} is
   * false nobody will act on it yet: fall back (power key, or a hard stop after a timeout).
   */
  requestShutdown(): number {
    const seq = this.postHostRequest(HostRequest.PowerOff);
    // A press the guest's policy may ignore: insist later unless it powers off (or another request
    // replaces this one) first.
    if (this.forceAfterMs) this.armForce(this.forceAfterMs);
    return seq;
  }

  /**
   * The later, insistent request: shut down in order without asking the user. Use it after
   * {@link requestShutdown} (a power-button press the guest may refuse) went unanswered for a while.
   */
  requestForcedShutdown(): number {
    return this.postHostRequest(HostRequest.ForcePowerOff);
  }

  /** Ask the guest to reboot in an orderly way; see {@link requestShutdown}. Ends with 'reboot'. */
  requestReboot(): number {
    return this.postHostRequest(HostRequest.Reboot);
  }

  /** Withdraw a pending host request (e.g. the user cancelled). */
  cancelHostRequest(): void {
    this.disarmForce();
    if (this.hostRequest === HostRequest.None) return;
    this.hostRequest = HostRequest.None;
    this.ctx?.configChanged();
  }

  /**
   * Tell the guest a device appeared or went away. Returns the event's seq; the guest acks it.
   * Contract: for "add", map and wire the device and make the inventory provider list it (hotplugged)
   * before calling; for "remove", drop it from the inventory, call this, and unmap the device only after
   * the 'ack' with this seq (or a timeout of your choosing) — the guest may still touch it until then.
   */
  announceHotplug(a: HotplugAnnouncement): number {
    this.seq = nextSeq(this.seq);
    const seq = this.seq;
    // The instance goes into the inventory with the same generation change the event announces.
    if (a.kind === 'add') this.instances.set(a.base, seq);
    else this.instances.delete(a.base);
    this.inventoryChanged();
    if (!this.has(PowerFeature.Hotplug)) return seq;
    const type = a.kind === 'add' ? EventType.DeviceAdded : EventType.DeviceRemoved;
    if (this.pendingReal >= this.maxPending) {
      if (this.pending.at(-1)?.type !== EventType.EventsLost) this.pending.push(eventsLost());
      this.log.warn(`virtio-power: event queue full, hotplug ${a.kind} at 0x${a.base.toString(16)} dropped`);
      this.emitSafely('ack', { seq, kind: a.kind, accepted: false, dropped: 'overflow' });
    } else {
      this.pending.push({
        type,
        transport: Transport[a.transport ?? 'VirtioMmio'],
        irqType: a.irqType ?? IrqType.LevelHigh,
        seq,
        deviceId: a.deviceId,
        irq: a.irq,
        base: a.base,
        size: a.size,
      });
      this.pendingReal++;
      this.remember(seq, a.kind);
    }
    this.flushEvents();
    return seq;
  }

  /** The inventory changed without a hotplug event (e.g. a new name): the guest re-reads it. */
  inventoryChanged(): void {
    this.generation = nextSeq(this.generation);
    this.blob = null;
    this.ctx?.configChanged();
  }

  /** The current serialised inventory (what the guest reads). */
  inventoryBlob(): Uint8Array {
    if (!this.blob) this.blob = this.buildInventory();
    return this.blob;
  }

  // -------------------------------------------------------------------------------- VirtioDevice side

  readConfig(offset: number, width: 1 | 2 | 4): number {
    const c = this.config;
    c.set32(ConfigOffset.HostRequest, this.hostRequest);
    c.set32(ConfigOffset.HostRequestSeq, this.hostRequestSeq);
    // Inventory fields read as 0 unless the feature is offered: a minimal device has no inventory.
    if (this.features & bit(PowerFeature.Inventory)) {
      c.set32(ConfigOffset.InventorySize, this.inventoryBlob().length);
      c.set32(ConfigOffset.InventoryGeneration, this.generation);
      c.set32(ConfigOffset.MaxRead, MAX_READ);
    }
    return c.read(offset, width);
  }

  writeConfig(offset: number, width: 1 | 2 | 4, value: number): void {
    // Only a whole 4-byte keyed write to `command` does anything; it works in any device status
    // because Linux resets virtio devices before its sys-off handlers run.
    if (offset !== ConfigOffset.Command || width !== 4) {
      this.guestWarn(`virtio-power: ignored ${width}-byte config write at 0x${offset.toString(16)}`);
      return;
    }
    if (value === Command.PowerOff) this.finish('poweroff', 'command');
    else if (value === Command.Reboot) this.finish('reboot', 'command');
    else this.guestWarn(`virtio-power: unknown command 0x${(value >>> 0).toString(16)} ignored`);
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.dropEvents('reset');
  }

  queueNotify(index: number): void {
    if (!this.ctx) return;
    if (index === QueueIndex.Request) this.serveRequests();
    else if (index === QueueIndex.Event) this.flushEvents();
  }

  reset(): void {
    // Undelivered and unacknowledged events die with the driver: a new driver starts from the inventory,
    // and the host hears that no ack will come. A pending host request survives, so a driver loaded later
    // still sees it.
    this.ctx = null;
    this.dropEvents('reset');
  }

  /**
   * Snapshot: the host request, sequence numbers, the inventory generation, the UUID the guest saw,
   * undelivered events and unacknowledged hotplugs. Event buffers are never held (each is used at once).
   */
  saveState(): SavedState {
    return {
      version: 1,
      data: {
        // Milliseconds left before a pending POWER_OFF is escalated (absent: none pending).
        ...(this.forceTimer ? { forceInMs: Math.max(0, Math.round(this.forceAt - performance.now())) } : {}),
        hostRequest: this.hostRequest,
        hostRequestSeq: this.hostRequestSeq,
        seq: this.seq,
        generation: this.generation,
        uuid: this.uuid.slice(),
        pending: this.pending.map((e) => ({ ...e })),
        outstanding: [...this.outstanding].map(([k, v]) => [k, v]),
        instances: [...this.instances].map(([k, v]) => [k, v]),
      },
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(s, 'virtio-power', [1]);
    const u32 = 0xffffffff;
    const hostRequest = r.int('hostRequest', 0, u32) as HostRequestCode;
    const ev = (v: unknown, i: number): PowerEvent => {
      const e = new StateReader(v as SavedState['data'], `virtio-power.pending[${i}]`);
      const f = (k: string): number => e.int(k, 0, 2 ** 53);
      return {
        type: f('type'),
        transport: f('transport'),
        irqType: f('irqType'),
        seq: f('seq'),
        deviceId: f('deviceId'),
        irq: f('irq'),
        base: f('base'),
        size: f('size'),
      };
    };
    const pending = r.arr('pending', 2 * this.maxPending + 1).map(ev);
    const pairs = (k: string): [number, unknown][] =>
      r.arr(k, 4096).map((p) => {
        if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'number')
          throw r.fail(k, 'holds a bad entry');
        return [p[0], p[1]];
      });
    const outstanding = pairs('outstanding');
    if (outstanding.some(([, v]) => v !== 'add' && v !== 'remove'))
      throw r.fail('outstanding', 'holds a bad kind');
    const instances = pairs('instances');
    if (instances.some(([, v]) => typeof v !== 'number')) throw r.fail('instances', 'holds a bad seq');
    this.hostRequest = hostRequest;
    this.hostRequestSeq = r.int('hostRequestSeq', 0, u32);
    this.seq = r.int('seq', 0, u32);
    this.generation = r.int('generation', 0, u32);
    this.uuid = r.bytes('uuid', 16).slice();
    this.blob = null;
    this.pending = pending;
    this.pendingReal = pending.filter((e) => e.type !== EventType.EventsLost).length;
    this.outstanding = new Map(outstanding as [number, 'add' | 'remove'][]);
    this.instances.clear();
    for (const [k, v] of instances) this.instances.set(k, v as number);
    this.ctx = ctx;
    this.disarmForce();
    if (r.has('forceInMs')) this.armForce(r.int('forceInMs', 0, 2 ** 31));
  }

  // ---------------------------------------------------------------------------------------- internals

  private has(f: number): boolean {
    return this.ctx !== null && (this.ctx.negotiated & bit(f)) !== 0n;
  }

  private postHostRequest(r: HostRequestCode): number {
    this.disarmForce();
    this.seq = nextSeq(this.seq);
    this.hostRequest = r;
    this.hostRequestSeq = this.seq;
    this.ctx?.configChanged();
    return this.seq;
  }

  private remember(seq: number, kind: 'add' | 'remove'): void {
    this.outstanding.set(seq, kind);
    if (this.outstanding.size > MAX_OUTSTANDING) {
      const [oldest, k] = this.outstanding.entries().next().value ?? [0, 'add'];
      this.outstanding.delete(oldest);
      this.emitSafely('ack', { seq: oldest, kind: k, accepted: false, dropped: 'overflow' });
    }
  }

  private dropEvents(why: 'reset'): void {
    const gone = [...this.outstanding];
    this.pending = [];
    this.pendingReal = 0;
    this.outstanding.clear();
    for (const [seq, kind] of gone) this.emitSafely('ack', { seq, kind, accepted: false, dropped: why });
  }

  private armForce(ms: number): void {
    this.disarmForce();
    this.forceAt = performance.now() + ms;
    this.forceTimer = setTimeout(() => {
      this.forceTimer = null;
      this.log.warn(
        `virtio-power: the guest did not power off within ${this.forceAfterMs / 1000} s of the power-button request: FORCE_POWER_OFF`,
      );
      this.postHostRequest(HostRequest.ForcePowerOff);
    }, ms);
    // Never the reason a host process stays alive.
    (this.forceTimer as { unref?: () => void }).unref?.();
  }

  private disarmForce(): void {
    if (this.forceTimer) clearTimeout(this.forceTimer);
    this.forceTimer = null;
  }

  private finish(kind: 'poweroff' | 'reboot', via: PowerVia): void {
    this.disarmForce();
    // The request is answered by the power transition itself; a driver still reading the field sees it go.
    if (this.hostRequest !== HostRequest.None) {
      this.hostRequest = HostRequest.None;
      this.ctx?.configChanged();
    }
    this.log.info(`virtio-power: guest asks for ${kind} (${via})`);
    this.emitSafely(kind, via);
  }

  /**
   * A log line caused by the guest: a burst of {@link GUEST_WARN_BURST}, then one a second, so a guest
   * that repeats a mistake in a loop cannot flood the host's log (the count of dropped lines is kept).
   */
  private guestWarn(msg: string): void {
    const now = Date.now();
    this.warnTokens = Math.min(GUEST_WARN_BURST, this.warnTokens + (now - this.warnAt) / 1000);
    this.warnAt = now;
    if (this.warnTokens < 1) {
      this.warnsDropped++;
      return;
    }
    this.warnTokens--;
    const more = this.warnsDropped ? ` (${this.warnsDropped} similar lines dropped)` : '';
    this.warnsDropped = 0;
    this.log.warn(msg + more);
  }

  /** A host listener that throws must not unwind into the CPU's MMIO path. */
  private emitSafely<E extends keyof PowerDeviceEvents>(
    event: E,
    ...args: Parameters<PowerDeviceEvents[E]>
  ): void {
    try {
      (this.emit as (e: E, ...a: Parameters<PowerDeviceEvents[E]>) => boolean)(event, ...args);
    } catch (e) {
      this.log.error(`virtio-power: '${event}' listener threw: ${String(e)}`);
    }
  }

  private buildInventory(): Uint8Array {
    let snap: InventorySnapshot | null = null;
    try {
      snap = this.provider ? this.provider() : null;
    } catch (e) {
      this.log.error(`virtio-power: inventory provider threw: ${String(e)}`);
    }
    const inv: Inventory = {
      harts: 0,
      ramBase: 0,
      ramSize: 0,
      interruptController: 'Unknown',
      timer: 'Unknown',
      specVersion: [0, 0],
      devices: [],
      ...snap,
      name: this.name ?? snap?.name ?? 'virtio-desktop',
      uuid: this.optUuid ?? snap?.uuid ?? this.uuid,
    };
    // The device knows which DEVICE_ADDED announced each hotplugged device; the machine need not.
    inv.devices = inv.devices.map((d) =>
      d.hotplugged && d.instance === undefined ? { ...d, instance: this.instances.get(d.base) ?? 0 } : d,
    );
    try {
      return encodeInventory(inv, this.generation);
    } catch (e) {
      this.log.error(`virtio-power: inventory rejected (${String(e)}); serving an empty one`);
      const empty = { ...inv, uuid: this.uuid, devices: [], harts: 0, ramBase: 0, ramSize: 0 };
      return encodeInventory({ ...empty, specVersion: [0, 0] }, this.generation);
    }
  }

  private serveRequests(): void {
    const q = this.ctx?.queues[QueueIndex.Request];
    if (!q) return;
    const finished: (() => void)[] = [];
    for (let c = q.pop(); c; c = q.pop()) {
      const after = this.serve(c, (written) => q.push(c.head, written));
      if (after) finished.push(after);
    }
    q.signal();
    // Power transitions go last, so the host sees the response in the ring before it acts.
    for (const f of finished) f();
  }

  /** Answers one chain; returns a deferred action for power requests. */
  private serve(c: DescriptorChain, complete: (written: number) => void): (() => void) | null {
    if (c.writableLength < RESPONSE_HEADER_SIZE) {
      this.guestWarn(
        `virtio-power: request ${c.head} has ${c.writableLength} writable bytes, no room for a status`,
      );
      complete(0);
      return null;
    }
    const reply = (status: StatusCode, why?: string): null => {
      if (why) this.guestWarn(`virtio-power: request ${c.head}: ${why}`);
      complete(c.writeBytes(0, encodeResponse({ status, generation: 0, totalSize: 0, length: 0 })));
      return null;
    };
    const raw = c.readBytes(0, Math.min(c.readableLength, REQUEST_SIZE));
    const req = raw ? decodeRequest(raw) : null;
    if (!req) return reply(Status.Invalid, `short request (${c.readableLength} readable bytes)`);
    if (req.flags !== 0) return reply(Status.Invalid, `reserved flags 0x${req.flags.toString(16)} set`);
    switch (req.type) {
      case RequestType.InventoryRead:
        return this.inventoryRead(c, req.arg0, req.arg1, reply, complete);
      case RequestType.Ack:
        return this.ack(req.arg0, req.arg1, reply);
      case RequestType.PowerOff:
      case RequestType.Reboot: {
        if (req.arg0 !== 0 || req.arg1 !== 0) return reply(Status.Invalid, 'power request with arguments');
        reply(Status.Ok);
        const kind = req.type === RequestType.PowerOff ? 'poweroff' : 'reboot';
        return () => this.finish(kind, 'request');
      }
      default:
        return reply(Status.Unsupported, `unknown request type ${req.type}`);
    }
  }

  private inventoryRead(
    c: DescriptorChain,
    offset: number,
    length: number,
    reply: (s: StatusCode, why?: string) => null,
    complete: (written: number) => void,
  ): null {
    if (!this.has(PowerFeature.Inventory))
      return reply(Status.Unsupported, 'INVENTORY_READ without INVENTORY');
    const blob = this.inventoryBlob();
    if (offset > blob.length)
      return reply(Status.Invalid, `inventory offset ${offset} past its ${blob.length} bytes`);
    const n = Math.min(length, MAX_READ, c.writableLength - RESPONSE_HEADER_SIZE, blob.length - offset);
    const head = encodeResponse({
      status: Status.Ok,
      generation: this.generation,
      totalSize: blob.length,
      length: n,
    });
    const w = c.writeBytes(0, head) + c.writeBytes(RESPONSE_HEADER_SIZE, blob.subarray(offset, offset + n));
    complete(w);
    return null;
  }

  private ack(seq: number, result: number, reply: (s: StatusCode, why?: string) => null): null {
    if (!this.has(PowerFeature.HostRequests) && !this.has(PowerFeature.Hotplug))
      return reply(Status.Unsupported, 'ACK without HOST_REQUESTS or HOTPLUG');
    if (result !== AckResult.Accepted && result !== AckResult.Refused)
      return reply(Status.Invalid, `ack result ${result} unknown`);
    const accepted = result === AckResult.Accepted;
    if (seq !== 0 && seq === this.hostRequestSeq && this.hostRequest !== HostRequest.None) {
      const kind = this.hostRequest === HostRequest.Reboot ? 'reboot' : 'poweroff';
      this.hostRequest = HostRequest.None;
      this.ctx?.configChanged();
      reply(Status.Ok);
      this.emitSafely('ack', { seq, kind, accepted });
      return null;
    }
    const hp = this.outstanding.get(seq);
    if (hp) {
      this.outstanding.delete(seq);
      reply(Status.Ok);
      this.emitSafely('ack', { seq, kind: hp, accepted });
      return null;
    }
    return reply(Status.Invalid, `ack of unknown or stale seq ${seq}`);
  }

  private flushEvents(): void {
    const q = this.ctx?.queues[QueueIndex.Event];
    if (!q || !this.has(PowerFeature.Hotplug)) return;
    while (this.pending.length > 0) {
      const c = q.pop();
      if (!c) break;
      if (c.readableLength !== 0 || c.writableLength < EVENT_SIZE) {
        this.guestWarn(
          `virtio-power: event buffer ${c.head} malformed (${c.readableLength} readable, ${c.writableLength} writable)`,
        );
        q.push(c.head, 0);
        continue;
      }
      const ev = this.pending.shift() as PowerEvent;
      if (ev.type !== EventType.EventsLost) this.pendingReal--;
      q.push(c.head, c.writeBytes(0, encodeEvent(ev)));
    }
    q.signal();
  }
}
