/**
 * The virtio-console device model with VIRTIO_CONSOLE_F_MULTIPORT: named ports the guest sees as
 * /dev/vportNpM (and /sys/class/virtio-ports/vportNpM/name), each a byte stream both ways. The control
 * queues carry the port handshake (DEVICE_READY, DEVICE_ADD, PORT_READY, PORT_NAME, PORT_OPEN); this
 * file turns it into a small host API — {@link ConsolePort}'s write, 'data', 'open' and 'close' — and
 * knows nothing of what the bytes mean (clipboard.ts does, for the clipboard port).
 */
import type {
  DescriptorChain,
  Logger,
  SavedState,
  Virtqueue,
  VirtioDevice,
  VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import {
  ConfigSpace,
  StateReader,
  TurnMeter,
  bit,
  nextTurn,
  silentLogger,
} from '@virtio-desktop/virtio-core';
import { EventEmitter } from 'eventemitter3';
import {
  CONFIG_SIZE,
  CONSOLE_DEVICE_ID,
  CONTROL_SIZE,
  ConfigOffset,
  ConsoleFeature,
  ControlEvent,
  ControlQueue,
  PORT_NAME_PATTERN,
  decodeControl,
  encodeControl,
  portQueues,
  queueCount,
  type ControlMessage,
} from './protocol.js';

/** See virtio-input: the used index must be visible to harts on other threads before signal() reads. */
const FENCE_WORD = typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4)) : null;
function fullFence(): void {
  if (FENCE_WORD) Atomics.add(FENCE_WORD, 0, 0);
}

const QUEUE_SIZE = 64;
/** Control messages waiting for guest buffers; a guest that never posts any cannot make this grow. */
const MAX_CONTROL_PENDING = 64;
/** Bytes one port may have waiting for the guest by default (a 1 MiB clipboard frame and change). */
export const DEFAULT_MAX_PENDING = (1 << 20) + 4096;
/**
 * Largest buffer the guest may hand us on a transmit queue. Linux writes at most 32 KiB per buffer; a
 * bigger one is refused (the port is closed) rather than copied, so a buffer naming all of RAM costs
 * nothing.
 */
export const MAX_TX_BUFFER = 256 * 1024;

export interface ConsolePortEvents {
  /** Bytes the guest wrote (a copy, the caller may keep it). */
  data: (bytes: Uint8Array) => void;
  /** The guest opened the port (a program holds /dev/vportNpM open). */
  open: () => void;
  /** The guest closed the port, reset the device, or the host closed it after a fault. */
  close: (why: string) => void;
}

/** One named port: the host end of a byte stream to a program in the guest. */
export class ConsolePort extends EventEmitter<ConsolePortEvents> {
  /** The driver announced the port (PORT_READY); its name has been sent. */
  ready = false;
  /** A guest program has the port open. */
  guestOpen = false;
  /** The host end is connected (what the guest's poll() sees as not HUP). */
  hostOpen = true;
  /** Bytes waiting for guest buffers, oldest first. */
  pending: Uint8Array[] = [];
  pendingBytes = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly device: VirtioConsoleDevice,
    readonly maxPending: number,
  ) {
    super();
  }

  /**
   * Queue bytes for the guest. False (nothing queued) while no guest program has the port open — Linux
   * drops data for a closed port anyway — or when it would pass {@link maxPending}.
   */
  write(bytes: Uint8Array): boolean {
    if (!this.guestOpen || !this.hostOpen) return false;
    if (this.pendingBytes + bytes.length > this.maxPending) return false;
    if (bytes.length === 0) return true;
    this.pending.push(bytes.slice());
    this.pendingBytes += bytes.length;
    this.device.pumpPort(this);
    return true;
  }

  /**
   * Close the host end (the guest reads end-of-file, its writes wait): for a stream that went out of
   * step. It opens again when the guest closes and reopens the port.
   */
  hangUp(why: string): void {
    if (!this.hostOpen) return;
    this.hostOpen = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.device.sendControl({ id: this.id, event: ControlEvent.PortOpen, value: 0 });
    this.device.emitSafe(this, 'close', why);
  }
}

export interface ConsoleDeviceOptions {
  /** Names of the ports, in port-number order (at least one). */
  ports: readonly string[];
  log?: Logger;
  /** Bytes each port may queue for the guest (default {@link DEFAULT_MAX_PENDING}). */
  maxPending?: number;
}

export interface ConsoleStats {
  bytesIn: number;
  bytesOut: number;
  /** Buffers returned unused: malformed, oversized, or for a port that is not open. */
  badBuffers: number;
  badControl: number;
}

export class VirtioConsoleDevice implements VirtioDevice {
  readonly deviceId = CONSOLE_DEVICE_ID;
  readonly features = bit(ConsoleFeature.Multiport);
  readonly queueSizes: readonly number[];
  readonly configSize = CONFIG_SIZE;
  readonly ports: readonly ConsolePort[];
  readonly stats: ConsoleStats = { bytesIn: 0, bytesOut: 0, badBuffers: 0, badControl: 0 };

  private readonly log: Logger;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  private ctx: VirtioDeviceContext | null = null;
  private controlPending: Uint8Array[] = [];
  private readonly meter = new TurnMeter({ requests: 256, bytes: 4 << 20 });
  private drainScheduled = false;
  private lastWarn = -Infinity;
  private warnsSkipped = 0;

  constructor(o: ConsoleDeviceOptions) {
    if (o.ports.length < 1 || o.ports.length > 31) throw new RangeError('a console has 1 to 31 ports');
    for (const n of o.ports)
      if (!PORT_NAME_PATTERN.test(n)) throw new RangeError(`port name ${JSON.stringify(n)} is not allowed`);
    this.log = o.log ?? silentLogger;
    const max = o.maxPending ?? DEFAULT_MAX_PENDING;
    this.ports = o.ports.map((n, i) => new ConsolePort(i, n, this, max));
    this.queueSizes = Array.from({ length: queueCount(o.ports.length) }, () => QUEUE_SIZE);
    this.config.set32(ConfigOffset.MaxNrPorts, o.ports.length);
  }

  /** The port called `name`, if the device has one. */
  port(name: string): ConsolePort | undefined {
    return this.ports.find((p) => p.name === name);
  }

  readConfig(offset: number, width: 1 | 2 | 4): number {
    return this.config.read(offset, width);
  }

  writeConfig(): void {
    // emerg_wr needs VIRTIO_CONSOLE_F_EMERG_WRITE, which is not offered: every write is ignored.
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.controlPending = [];
    for (const p of this.ports) this.portReset(p);
    this.queueNotify(ControlQueue.Tx);
  }

  reset(): void {
    this.ctx = null;
    this.controlPending = [];
    for (const p of this.ports) {
      const wasOpen = p.guestOpen;
      this.portReset(p);
      if (wasOpen) this.emitSafe(p, 'close', 'the guest reset the device');
    }
  }

  private portReset(p: ConsolePort): void {
    p.ready = false;
    p.guestOpen = false;
    p.hostOpen = true;
    p.pending = [];
    p.pendingBytes = 0;
  }

  queueNotify(index: number): void {
    if (!this.ctx) return;
    if (index === ControlQueue.Tx) this.drainControl();
    else if (index === ControlQueue.Rx) this.pumpControl();
    else {
      const port = index < 2 ? 0 : (index >> 1) - 1;
      const p = this.ports[port];
      if (!p) return;
      if (index % 2 === 0) this.pumpPort(p);
      else this.drainPort(p);
    }
  }

  /** Queue a control message for the driver (bounded: a guest that posts no buffers loses them). */
  sendControl(m: ControlMessage, extra?: Uint8Array): void {
    if (!this.ctx) return;
    if (this.controlPending.length >= MAX_CONTROL_PENDING) {
      this.warn('virtio-console: the guest reads no control messages; dropping one');
      return;
    }
    this.controlPending.push(encodeControl(m, extra));
    this.pumpControl();
  }

  private pumpControl(): void {
    const q = this.ctx?.queues[ControlQueue.Rx];
    if (!q) return;
    let any = false;
    while (this.controlPending.length > 0) {
      const chain = q.pop();
      if (!chain) break;
      any = true;
      const msg = this.controlPending[0];
      if (chain.readableLength > 0 || chain.writableLength < msg.length) {
        this.stats.badBuffers++;
        this.warn('virtio-console: a control receive buffer is too small or not writable; returned unused');
        q.push(chain.head, 0);
        continue;
      }
      this.controlPending.shift();
      q.push(chain.head, chain.writeBytes(0, msg));
    }
    if (any) this.signal(q);
  }

  private drainControl(): void {
    const q = this.ctx?.queues[ControlQueue.Tx];
    if (!q) return;
    let any = false;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      any = true;
      const bytes = chain.readableLength >= CONTROL_SIZE ? chain.readBytes(0, CONTROL_SIZE) : null;
      q.push(chain.head, 0);
      const m = bytes ? decodeControl(bytes) : null;
      if (!m) {
        this.stats.badControl++;
        this.warn('virtio-console: a control message shorter than 8 bytes; ignored');
        continue;
      }
      this.control(m);
    }
    if (any) this.signal(q);
  }

  private control(m: ControlMessage): void {
    switch (m.event) {
      case ControlEvent.DeviceReady:
        if (m.value !== 1) {
          this.log.warn('virtio-console: the guest driver failed to set up the device');
          return;
        }
        for (const p of this.ports) this.sendControl({ id: p.id, event: ControlEvent.DeviceAdd, value: 0 });
        return;
      case ControlEvent.PortReady: {
        const p = this.ports[m.id];
        if (!p) break;
        if (m.value !== 1) {
          this.log.warn(`virtio-console: the guest could not add port ${m.id} (${p.name})`);
          return;
        }
        p.ready = true;
        this.sendControl(
          { id: p.id, event: ControlEvent.PortName, value: 1 },
          new TextEncoder().encode(p.name),
        );
        if (p.hostOpen) this.sendControl({ id: p.id, event: ControlEvent.PortOpen, value: 1 });
        return;
      }
      case ControlEvent.PortOpen: {
        const p = this.ports[m.id];
        if (!p || !p.ready) break;
        const open = m.value !== 0;
        if (open === p.guestOpen) return;
        p.guestOpen = open;
        if (open) {
          if (!p.hostOpen) {
            // A port the host hung up on starts afresh when a program opens it again.
            p.hostOpen = true;
            this.sendControl({ id: p.id, event: ControlEvent.PortOpen, value: 1 });
          }
          this.emitSafe(p, 'open');
        } else {
          p.pending = [];
          p.pendingBytes = 0;
          if (p.hostOpen) this.emitSafe(p, 'close', 'the guest closed the port');
        }
        return;
      }
      default:
        break;
    }
    this.stats.badControl++;
    this.warn(`virtio-console: control event ${m.event} for port ${m.id} ignored`);
  }

  /** Move the port's waiting bytes into the guest's receive buffers. */
  pumpPort(p: ConsolePort): void {
    const q = this.ctx?.queues[portQueues(p.id).rx];
    if (!q) return;
    let any = false;
    while (p.pending.length > 0) {
      const chain = q.pop();
      if (!chain) break;
      any = true;
      if (chain.readableLength > 0 || chain.writableLength === 0) {
        this.stats.badBuffers++;
        this.warn(
          `virtio-console: receive buffer ${chain.head} of ${p.name} is not writable; returned unused`,
        );
        q.push(chain.head, 0);
        continue;
      }
      q.push(chain.head, this.fill(p, chain));
    }
    if (any) this.signal(q);
  }

  private fill(p: ConsolePort, chain: DescriptorChain): number {
    let room = chain.writableLength;
    let written = 0;
    while (room > 0 && p.pending.length > 0) {
      const b = p.pending[0];
      const n = Math.min(room, b.length);
      chain.writeBytes(written, n === b.length ? b : b.subarray(0, n));
      written += n;
      room -= n;
      if (n === b.length) p.pending.shift();
      else p.pending[0] = b.subarray(n);
      p.pendingBytes -= n;
    }
    this.stats.bytesOut += written;
    return written;
  }

  /** Take what the guest wrote on the port's transmit queue, a bounded amount per event-loop turn. */
  private drainPort(p: ConsolePort): void {
    const q = this.ctx?.queues[portQueues(p.id).tx];
    if (!q) return;
    let any = false;
    while (!this.meter.exhausted) {
      const chain = q.pop();
      if (!chain) break;
      any = true;
      const len = chain.readableLength;
      this.meter.spend(len);
      if (chain.writableLength > 0 || len > MAX_TX_BUFFER) {
        this.stats.badBuffers++;
        q.push(chain.head, 0);
        p.hangUp(`a transmit buffer of ${len} bytes (at most ${MAX_TX_BUFFER}, device-readable only)`);
        this.warn(`virtio-console: ${p.name}: bad transmit buffer of ${len} bytes; port closed`);
        continue;
      }
      const bytes = chain.readBytes(0, len);
      q.push(chain.head, 0);
      // Data on a port the host hung up on, or the guest has not opened, belongs to no stream.
      if (!bytes || !p.guestOpen || !p.hostOpen || len === 0) continue;
      this.stats.bytesIn += len;
      this.emitSafe(p, 'data', bytes);
    }
    if (any) this.signal(q);
    if (q.pending() > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      nextTurn(() => {
        this.drainScheduled = false;
        for (const port of this.ports) this.drainPort(port);
      });
    }
  }

  private signal(q: Virtqueue): void {
    fullFence();
    q.signal();
  }

  /** A host listener that throws must not unwind into the guest's MMIO write. */
  emitSafe<E extends keyof ConsolePortEvents>(
    p: ConsolePort,
    event: E,
    ...args: Parameters<ConsolePortEvents[E]>
  ): void {
    try {
      (p.emit as (e: E, ...a: Parameters<ConsolePortEvents[E]>) => boolean)(event, ...args);
    } catch (e) {
      this.log.error(`virtio-console ${p.name}: '${event}' listener threw: ${String(e)}`);
    }
  }

  /** One warning line per second at most: the guest decides how often these happen. */
  private warn(line: string): void {
    const now = Date.now();
    if (now - this.lastWarn < 1000) {
      this.warnsSkipped++;
      return;
    }
    const more = this.warnsSkipped ? ` (and ${this.warnsSkipped} more since the last)` : '';
    this.warnsSkipped = 0;
    this.lastWarn = now;
    this.log.warn(line + more);
  }

  /** Snapshot: the handshake state of each port, the bytes waiting for the guest and the counters. */
  saveState(): SavedState {
    return {
      version: 1,
      data: {
        ports: this.ports.map((p) => ({
          name: p.name,
          ready: p.ready,
          guestOpen: p.guestOpen,
          hostOpen: p.hostOpen,
          pending: concat(p.pending),
        })),
        control: this.controlPending.map((b) => b.slice()),
        stats: { ...this.stats },
      },
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(s, 'virtio-console', [1]);
    const ports = r.arr('ports', 31);
    if (ports.length !== this.ports.length)
      throw r.fail('ports', `has ${ports.length}, not ${this.ports.length}`);
    const control: Uint8Array[] = [];
    for (const c of r.arr('control', MAX_CONTROL_PENDING)) {
      if (!(c instanceof Uint8Array) || c.length < CONTROL_SIZE || c.length > CONTROL_SIZE + 64)
        throw r.fail('control', 'holds a bad message');
      control.push(c.slice());
    }
    const parsed = ports.map((v, i) => {
      const pr = new StateReader(v, `virtio-console port ${i}`);
      if (pr.str('name') !== this.ports[i].name) throw pr.fail('name', `is not ${this.ports[i].name}`);
      const pending = pr.bytes('pending');
      if (pending.length > this.ports[i].maxPending) throw pr.fail('pending', 'is too long');
      return {
        ready: pr.bool('ready'),
        guestOpen: pr.bool('guestOpen'),
        hostOpen: pr.bool('hostOpen'),
        pending,
      };
    });
    const stats = r.sub('stats');
    for (const k of Object.keys(this.stats) as (keyof ConsoleStats)[])
      if (stats.has(k)) this.stats[k] = stats.int(k, 0);
    this.ctx = ctx;
    this.controlPending = ctx ? control : [];
    parsed.forEach((v, i) => {
      const p = this.ports[i];
      p.ready = !!ctx && v.ready;
      p.guestOpen = !!ctx && v.guestOpen;
      p.hostOpen = v.hostOpen || !ctx;
      p.pending = ctx && v.pending.length ? [v.pending] : [];
      p.pendingBytes = ctx ? v.pending.length : 0;
    });
  }
}

function concat(list: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const b of list) n += b.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of list) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
