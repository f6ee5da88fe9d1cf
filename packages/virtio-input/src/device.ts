/**
 * The virtio-input device model: configuration queries answered from a profile, events delivered as whole
 * frames (up to SYN_REPORT), the status queue (LEDs) read and validated. Profiles and their host-side
 * helpers (keyboard, pointer, touch) live in profiles.ts.
 */
import type {
  DescriptorChain,
  Logger,
  SavedState,
  VirtioDevice,
  VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import { ConfigSpace, StateReader, silentLogger } from '@virtio-desktop/virtio-core';
import { EventEmitter } from 'eventemitter3';
import {
  CONFIG_SIZE,
  CONFIG_UNION,
  ConfigOffset,
  EVENT_SIZE,
  Ev,
  INPUT_DEVICE_ID,
  QueueIndex,
  SYN_REPORT,
  configAnswer,
  decodeEvent,
  encodeEvent,
  type InputEvent,
  type InputProfile,
} from './protocol.js';

/**
 * A full memory barrier (a sequentially consistent read-modify-write): with harts on other threads the
 * used index this thread just stored must be visible before the driver's used_event / flags are read
 * back in signal(), or both sides can miss each other's update (a store may wait in the host CPU's
 * store buffer while the load behind it runs) and the interrupt is lost until the next event.
 */
const FENCE_WORD = typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4)) : null;
function fullFence(): void {
  if (FENCE_WORD) Atomics.add(FENCE_WORD, 0, 0);
}

/** Frames waiting for guest buffers; past this the oldest is dropped whole. */
export const MAX_PENDING_FRAMES = 64;
/** The longest frame any profile builds (10 touch slots of 4 events, plus emulation and SYN). */
export const MAX_FRAME_EVENTS = 64;
const QUEUE_SIZE = 64;

export interface InputDeviceEvents {
  /** The guest changed an LED (EV_LED on the status queue). */
  led: (state: { code: number; on: boolean; leds: number }) => void;
  /** A frame reached the guest's event queue. */
  delivered: (events: number) => void;
}

export interface InputStats {
  frames: number;
  events: number;
  /** Frames dropped whole: queue full for too long, or a frame larger than the guest's queue. */
  dropped: number;
  /** Guest buffers returned unused because they were malformed (too small, wrong direction). */
  badBuffers: number;
  statusEvents: number;
  badStatus: number;
}

interface RoomWaiter {
  limit: number;
  resolve(): void;
  reject(why: string): void;
}

export class VirtioInputDevice extends EventEmitter<InputDeviceEvents> implements VirtioDevice {
  readonly deviceId = INPUT_DEVICE_ID;
  readonly features = 0n;
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly configSize = CONFIG_SIZE;
  readonly stats: InputStats = {
    frames: 0,
    events: 0,
    dropped: 0,
    badBuffers: 0,
    statusEvents: 0,
    badStatus: 0,
  };
  /** LED bitmap the guest last set (bit n = LED code n). */
  leds = 0;

  protected readonly log: Logger;
  private select = 0;
  private subsel = 0;
  private answer: Uint8Array = new Uint8Array(0);
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  private ctx: VirtioDeviceContext | null = null;
  /** Guest buffers popped and held until a whole frame fits. */
  private buffers: DescriptorChain[] = [];
  private pending: Uint8Array[] = [];
  private readonly scratch = new Uint8Array(EVENT_SIZE);
  private readonly waiters = new Set<RoomWaiter>();

  constructor(
    readonly profile: InputProfile,
    opts: { log?: Logger } = {},
  ) {
    super();
    this.log = opts.log ?? silentLogger;
  }

  readConfig(offset: number, width: 1 | 2 | 4): number {
    return this.config.read(offset, width);
  }

  /** The config space shows the selector and the answer to it. */
  private refreshConfig(): void {
    const c = this.config;
    c.set8(ConfigOffset.Select, this.select);
    c.set8(ConfigOffset.Subsel, this.subsel);
    c.set8(ConfigOffset.Size, this.answer.length);
    c.setBytes(CONFIG_UNION, this.answer, c.size - CONFIG_UNION);
  }

  writeConfig(offset: number, width: 1 | 2 | 4, value: number): void {
    // Only select and subsel are writable; a wide write covering both sets both.
    ConfigSpace.splitWrite(offset, width, value, (off, b) => {
      if (off === ConfigOffset.Select) this.select = b;
      else if (off === ConfigOffset.Subsel) this.subsel = b;
    });
    this.answer = configAnswer(this.profile, this.select, this.subsel);
    this.refreshConfig();
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.buffers = [];
    this.queueNotify(QueueIndex.Status);
    this.pump();
  }

  queueNotify(index: number): void {
    if (!this.ctx) return;
    if (index === QueueIndex.Event) this.pump();
    else if (index === QueueIndex.Status) this.drainStatus();
  }

  reset(): void {
    // The buffers belonged to the old rings; input typed for a driver that went away is stale.
    this.ctx = null;
    this.buffers = [];
    this.pending = [];
    this.select = this.subsel = 0;
    this.answer = new Uint8Array(0);
    this.refreshConfig();
    this.leds = 0;
    for (const w of this.waiters)
      w.reject(`the guest's ${this.profile.name} driver went away (device reset)`);
    this.waiters.clear();
  }

  /**
   * Snapshot: the config selector, LEDs, held event buffers (by head), frames not yet delivered and the
   * counters. Host-side waiters (a `vdesk type` in progress) belong to the old process and are not kept.
   */
  saveState(): SavedState {
    return {
      version: 1,
      data: {
        profile: this.profile.name,
        select: this.select,
        subsel: this.subsel,
        leds: this.leds,
        buffers: this.buffers.map((c) => c.head),
        pending: this.pending.map((f) => f.slice()),
        stats: { ...this.stats },
      },
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(s, `virtio-input ${this.profile.name}`, [1]);
    if (r.str('profile') !== this.profile.name) throw r.fail('profile', `is ${r.str('profile')}`);
    const select = r.int('select', 0, 255);
    const subsel = r.int('subsel', 0, 255);
    const leds = r.int('leds', 0, 0xffffffff);
    const heads = r.ints('buffers', 0, 0xffff);
    const pending: Uint8Array[] = [];
    for (const f of r.arr('pending', MAX_PENDING_FRAMES)) {
      if (
        !(f instanceof Uint8Array) ||
        f.length === 0 ||
        f.length % EVENT_SIZE ||
        f.length > MAX_FRAME_EVENTS * EVENT_SIZE
      )
        throw r.fail('pending', 'holds a bad frame');
      pending.push(f.slice());
    }
    const stats = r.sub('stats');
    const buffers: DescriptorChain[] = [];
    const q = ctx?.queues[QueueIndex.Event];
    for (const h of q ? heads : []) {
      const c = q!.chainAt(h);
      if (!c) throw r.fail('buffers', `names event buffer ${h}, which is not a valid chain`);
      buffers.push(c);
    }
    for (const k of Object.keys(this.stats) as (keyof InputStats)[])
      if (stats.has(k)) this.stats[k] = stats.int(k, 0);
    this.select = select;
    this.subsel = subsel;
    this.answer = configAnswer(this.profile, select, subsel);
    this.refreshConfig();
    this.leds = leds;
    this.ctx = ctx;
    this.buffers = buffers;
    this.pending = ctx ? pending : [];
  }

  /** Whether a driver is attached and listening. */
  get active(): boolean {
    return this.ctx !== null;
  }

  /**
   * Queue one frame; SYN_REPORT is appended. It reaches the guest whole as soon as the guest has posted
   * enough buffers; until then it waits with at most {@link MAX_PENDING_FRAMES} others.
   */
  sendFrame(events: readonly InputEvent[]): void {
    if (events.length === 0) return;
    if (events.length + 1 > MAX_FRAME_EVENTS) {
      this.stats.dropped++;
      this.log.warn(
        `virtio-input: dropped a frame of ${events.length} events (at most ${MAX_FRAME_EVENTS - 1})`,
      );
      return;
    }
    const bytes = new Uint8Array((events.length + 1) * EVENT_SIZE);
    events.forEach((e, i) => encodeEvent(e, bytes.subarray(i * EVENT_SIZE, (i + 1) * EVENT_SIZE)));
    encodeEvent({ type: Ev.Syn, code: SYN_REPORT, value: 0 }, bytes.subarray(events.length * EVENT_SIZE));
    if (this.pending.length >= MAX_PENDING_FRAMES) {
      this.pending.shift();
      this.stats.dropped++;
      if (this.stats.dropped === 1 || this.stats.dropped % 100 === 0)
        this.log.warn(
          `virtio-input ${this.profile.name}: guest not reading events; ${this.stats.dropped} frames dropped`,
        );
    }
    this.pending.push(bytes);
    this.pump();
  }

  /** Deliver as many whole frames as the guest's buffers allow. */
  private pump(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[QueueIndex.Event];
    if (!q) return;
    let delivered = false;
    while (this.pending.length > 0) {
      const frame = this.pending[0];
      const need = frame.length / EVENT_SIZE;
      if (need > q.size) {
        // This guest's queue can never hold the frame: drop it rather than stall everything behind it.
        this.pending.shift();
        this.stats.dropped++;
        this.log.warn(`virtio-input: dropped a ${need}-event frame; the guest's event queue holds ${q.size}`);
        continue;
      }
      while (this.buffers.length < need) {
        const chain = q.pop();
        if (!chain) break;
        if (chain.writableLength < EVENT_SIZE || chain.readableLength > 0) {
          this.stats.badBuffers++;
          this.log.warn(
            `virtio-input: event buffer ${chain.head} is not one writable 8-byte buffer; returned unused`,
          );
          q.push(chain.head, 0);
          delivered = true;
          continue;
        }
        this.buffers.push(chain);
      }
      if (this.buffers.length < need) break;
      const chains = this.buffers.splice(0, need);
      for (let i = 0; i < need; i++) {
        const n = chains[i].writeBytes(0, frame.subarray(i * EVENT_SIZE, (i + 1) * EVENT_SIZE));
        q.push(chains[i].head, n);
      }
      this.pending.shift();
      this.stats.frames++;
      this.stats.events += need;
      delivered = true;
      this.emitSafe('delivered', need);
      this.notifyDrained();
    }
    if (delivered) {
      fullFence();
      q.signal();
    }
  }

  /** Frames queued for the guest and not yet in its buffers. */
  get pendingFrames(): number {
    return this.pending.length;
  }

  /**
   * Resolves when at most `limit` frames wait for the guest, so a host that sends many frames (typing a
   * string) can go at the guest's pace instead of overflowing the queue; rejects after `timeoutMs`, or at
   * reset (the driver went away), with an error saying how many frames are still waiting.
   */
  whenRoom(limit: number, timeoutMs: number): Promise<void> {
    if (this.pending.length <= limit) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: RoomWaiter = {
        limit,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (why) => {
          clearTimeout(timer);
          reject(new Error(why));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        waiter.reject(
          `the guest did not read ${this.profile.name} events for ${timeoutMs} ms (${this.pending.length} frames waiting)`,
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private notifyDrained(): void {
    for (const w of this.waiters)
      if (this.pending.length <= w.limit) {
        this.waiters.delete(w);
        w.resolve();
      }
  }

  /** A host listener that throws must not unwind into the guest's MMIO write (the CPU's path). */
  private emitSafe<E extends keyof InputDeviceEvents>(
    event: E,
    ...args: Parameters<InputDeviceEvents[E]>
  ): void {
    try {
      (this.emit as (e: E, ...a: Parameters<InputDeviceEvents[E]>) => boolean)(event, ...args);
    } catch (e) {
      this.log.error(`virtio-input ${this.profile.name}: '${event}' listener threw: ${String(e)}`);
    }
  }

  /** Events the guest sends to the device: LED changes (and sounds, which we have none of). */
  private drainStatus(): void {
    const q = this.ctx?.queues[QueueIndex.Status];
    if (!q) return;
    let any = false;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      any = true;
      const b = chain.readableLength === EVENT_SIZE ? chain.readBytes(0, EVENT_SIZE) : null;
      const e = b && chain.writableLength === 0 ? decodeEvent(b) : null;
      q.push(chain.head, 0);
      if (!e) {
        this.stats.badStatus++;
        this.log.warn('virtio-input: status buffer is not one readable 8-byte event; ignored');
        continue;
      }
      this.stats.statusEvents++;
      const leds = this.profile.events.get(Ev.Led);
      if (e.type === Ev.Led && leds?.includes(e.code)) {
        const on = e.value !== 0;
        this.leds = on ? this.leds | (1 << e.code) : this.leds & ~(1 << e.code);
        this.emitSafe('led', { code: e.code, on, leds: this.leds });
      } else {
        this.log.debug(`virtio-input: status event type ${e.type} code ${e.code} ignored`);
      }
    }
    if (any) q.signal();
  }
}
