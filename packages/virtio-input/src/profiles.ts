/**
 * The three input devices of a virtio-desktop machine (spec/virtio-desktop.md, input profiles): what each
 * advertises so that udev and libinput classify it (keyboard, absolute pointer, touchscreen), and the host
 * API that turns key presses, moves and touches into evdev frames.
 */
import type { Logger } from '@virtio-desktop/virtio-core';
import { MAX_PENDING_FRAMES, VirtioInputDevice } from './device.js';
import { ALL_KEYS, DOM_CODE_TO_KEY, SHIFT_KEY, textToStrokes } from './keymap.js';
import {
  Abs,
  BUS_VIRTUAL,
  Btn,
  Ev,
  InputProp,
  Led,
  Rel,
  type AbsInfo,
  type InputEvent,
  type InputProfile,
} from './protocol.js';

/** Absolute coordinates run 0..ABS_MAX on both axes, whatever the screen size (the guest scales). */
export const ABS_MAX = 0x7fff;
export const TOUCH_SLOTS = 10;
/** Our PCI-style vendor ID for the ID_DEVIDS answer ("VD"); products 1..3 are keyboard, pointer, touch. */
export const VENDOR = 0x5644;

export interface ProfileOptions {
  name?: string;
  serial?: string;
  log?: Logger;
}

const clamp = (v: number, lo: number, hi: number): number =>
  Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : lo;
const key = (code: number, value: number): InputEvent => ({ type: Ev.Key, code, value });
const abs = (code: number, value: number): InputEvent => ({ type: Ev.Abs, code, value });
const rel = (code: number, value: number): InputEvent => ({ type: Ev.Rel, code, value });

function profile(
  o: ProfileOptions,
  name: string,
  product: number,
  events: [number, number[]][],
  absInfo: [number, AbsInfo][] = [],
  props: number[] = [],
): InputProfile {
  return {
    name: o.name ?? name,
    serial: o.serial ?? `vdesk-${product}`,
    ids: { bustype: BUS_VIRTUAL, vendor: VENDOR, product, version: 1 },
    props,
    events: new Map(events),
    abs: new Map(absInfo),
  };
}

export class Keyboard extends VirtioInputDevice {
  private readonly down = new Set<number>();

  constructor(o: ProfileOptions = {}) {
    super(
      profile(o, 'virtio-desktop keyboard', 1, [
        [Ev.Key, [...ALL_KEYS]],
        [Ev.Rep, []],
        [Ev.Led, [Led.NumLock, Led.CapsLock, Led.ScrollLock]],
      ]),
      { log: o.log },
    );
  }

  /** Press (down) or release a key by Linux code; codes the keyboard does not have are ignored. */
  key(code: number, down: boolean): boolean {
    if (!this.profile.events.get(Ev.Key)!.includes(code)) {
      this.log.debug(`virtio-input keyboard: unknown key code ${code} ignored`);
      return false;
    }
    // A second "down" is an autorepeat in evdev terms (value 2); the guest repeats on its own anyway.
    const value = down ? (this.down.has(code) ? 2 : 1) : 0;
    if (!down && !this.down.has(code)) return true;
    if (down) this.down.add(code);
    else this.down.delete(code);
    this.sendFrame([key(code, value)]);
    return true;
  }

  /** A key by DOM KeyboardEvent.code ("KeyA", "ShiftLeft"): the physical key, whatever the layout. */
  domKey(code: string, down: boolean): boolean {
    const k = DOM_CODE_TO_KEY[code];
    if (k === undefined) {
      this.log.debug(
        `virtio-input keyboard: unknown DOM key code ${JSON.stringify(code.slice(0, 32))} ignored`,
      );
      return false;
    }
    return this.key(k, down);
  }

  /** Press the keys of a chord in order, then release them in reverse (ctrl+alt+delete). */
  chord(codes: readonly number[]): void {
    for (const c of codes) this.key(c, true);
    for (const c of [...codes].reverse()) this.key(c, false);
  }

  /** Type text on a US layout; returns the characters it could not type. */
  type(text: string): string[] {
    const { strokes, unknown } = textToStrokes(text);
    for (const s of strokes) this.chord(s.shift ? [SHIFT_KEY, s.key] : [s.key]);
    if (unknown.length) this.log.debug(`virtio-input keyboard: cannot type ${unknown.length} characters`);
    return unknown;
  }

  /**
   * Type text on a US layout at the guest's pace: each keystroke waits until the guest has read all but a
   * few queued frames, so none is dropped however long the text; `intervalMs` also spaces keystrokes for
   * guest applications slower than the driver. Rejects when the guest stops reading
   * for `timeoutMs` or when frames were dropped meanwhile (with how many keystrokes were typed and lost).
   */
  async typePaced(
    text: string,
    timeoutMs = 5000,
    intervalMs = 0,
  ): Promise<{ typed: number; unknown: string[] }> {
    const { strokes, unknown } = textToStrokes(text);
    const dropped0 = this.stats.dropped;
    let typed = 0;
    for (const s of strokes) {
      try {
        // A stroke is at most four frames (shift down, key down, key up, shift up).
        await this.whenRoom(MAX_PENDING_FRAMES - 4, timeoutMs);
      } catch (e) {
        throw new Error(`typed ${typed} of ${strokes.length} keystrokes: ${(e as Error).message}`);
      }
      this.chord(s.shift ? [SHIFT_KEY, s.key] : [s.key]);
      typed++;
      // The driver empties the queue at once; an application reading evdev may not (its buffer is small).
      if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
    }
    const lost = this.stats.dropped - dropped0;
    if (lost > 0) throw new Error(`${lost} key events were lost (the guest's queue overflowed while typing)`);
    return { typed, unknown };
  }

  /** Keys held down now (Linux codes). */
  get held(): number[] {
    return [...this.down];
  }

  /** Release every key held down (the viewer lost focus, the client went away). */
  releaseAll(): void {
    for (const c of [...this.down]) this.key(c, false);
  }

  override reset(): void {
    super.reset();
    this.down.clear();
  }
}

export const PointerButton = {
  left: Btn.Left,
  right: Btn.Right,
  middle: Btn.Middle,
  side: Btn.Side,
  extra: Btn.Extra,
} as const;
export type PointerButtonName = keyof typeof PointerButton;
/** Bit n of a DOM MouseEvent.buttons mask → button (left, right, middle, back/side, forward/extra). */
const MASK_ORDER: readonly number[] = [Btn.Left, Btn.Right, Btn.Middle, Btn.Side, Btn.Extra];

/** Absolute pointer: a tablet-style mouse, the way a VM's pointer follows the host's exactly. */
export class Pointer extends VirtioInputDevice {
  private buttons = 0;
  private x = -1;
  private y = -1;

  constructor(o: ProfileOptions = {}) {
    super(
      profile(
        o,
        'virtio-desktop pointer',
        2,
        [
          [Ev.Key, [...MASK_ORDER]],
          [Ev.Rel, [Rel.HWheel, Rel.Wheel, Rel.WheelHiRes, Rel.HWheelHiRes]],
          [Ev.Abs, [Abs.X, Abs.Y]],
        ],
        [
          [Abs.X, { min: 0, max: ABS_MAX }],
          [Abs.Y, { min: 0, max: ABS_MAX }],
        ],
      ),
      { log: o.log },
    );
  }

  /** Move to (x, y) in 0..32767 (clamped). */
  move(x: number, y: number): void {
    this.sendFrame(this.moveEvents(x, y));
  }

  private moveEvents(x: number, y: number): InputEvent[] {
    const cx = clamp(x, 0, ABS_MAX);
    const cy = clamp(y, 0, ABS_MAX);
    const ev: InputEvent[] = [];
    if (cx !== this.x) ev.push(abs(Abs.X, cx));
    if (cy !== this.y) ev.push(abs(Abs.Y, cy));
    this.x = cx;
    this.y = cy;
    return ev;
  }

  button(button: PointerButtonName | number, down: boolean): void {
    const code = typeof button === 'number' ? button : PointerButton[button];
    const bit = MASK_ORDER.indexOf(code);
    if (bit < 0) {
      this.log.debug(`virtio-input pointer: unknown button ${String(button)} ignored`);
      return;
    }
    this.state(
      this.x < 0 ? 0 : this.x,
      this.y < 0 ? 0 : this.y,
      down ? this.buttons | (1 << bit) : this.buttons & ~(1 << bit),
    );
  }

  /** Position and the whole button mask (DOM MouseEvent.buttons order) in one frame. */
  state(x: number, y: number, mask: number): void {
    const ev = this.moveEvents(x, y);
    const m = mask & 31;
    for (let b = 0; b < MASK_ORDER.length; b++) {
      const was = (this.buttons >> b) & 1;
      const now = (m >> b) & 1;
      if (was !== now) ev.push(key(MASK_ORDER[b], now));
    }
    this.buttons = m;
    this.sendFrame(ev);
  }

  /** Wheel notches: dy > 0 scrolls up (away from the user), dx > 0 right; each clamped to ±32. */
  wheel(dy: number, dx = 0): void {
    const y = clamp(dy, -32, 32);
    const x = clamp(dx, -32, 32);
    const ev: InputEvent[] = [];
    if (y) ev.push(rel(Rel.Wheel, y), rel(Rel.WheelHiRes, y * 120));
    if (x) ev.push(rel(Rel.HWheel, x), rel(Rel.HWheelHiRes, x * 120));
    this.sendFrame(ev);
  }

  /** Release every button held down (the client that pressed it went away). */
  releaseAll(): void {
    if (this.buttons) this.state(this.x < 0 ? 0 : this.x, this.y < 0 ? 0 : this.y, 0);
  }

  override reset(): void {
    super.reset();
    this.buttons = 0;
    this.x = this.y = -1;
  }
}

/** A finger on the screen: `id` is the host's identifier for it, x and y in 0..32767 (clamped). */
export interface Contact {
  id: number;
  x: number;
  y: number;
}

/** Multi-touch screen, protocol B, with single-touch emulation (BTN_TOUCH, ABS_X/Y of the first finger). */
export class Touchscreen extends VirtioInputDevice {
  /** Host contact id per slot (undefined: free), and the position last sent. */
  private slots: ({ id: number; x: number; y: number } | undefined)[] = new Array(TOUCH_SLOTS);
  private nextTracking = 0;
  private touching = false;

  constructor(o: ProfileOptions = {}) {
    super(
      profile(
        o,
        'virtio-desktop touchscreen',
        3,
        [
          [Ev.Key, [Btn.Touch]],
          [Ev.Abs, [Abs.X, Abs.Y, Abs.MtSlot, Abs.MtPositionX, Abs.MtPositionY, Abs.MtTrackingId]],
        ],
        [
          [Abs.X, { min: 0, max: ABS_MAX }],
          [Abs.Y, { min: 0, max: ABS_MAX }],
          [Abs.MtSlot, { min: 0, max: TOUCH_SLOTS - 1 }],
          [Abs.MtPositionX, { min: 0, max: ABS_MAX }],
          [Abs.MtPositionY, { min: 0, max: ABS_MAX }],
          [Abs.MtTrackingId, { min: 0, max: 0xffff }],
        ],
        [InputProp.Direct],
      ),
      { log: o.log },
    );
  }

  /**
   * The fingers on the screen now (all of them: one missing from the list has lifted). Sends one frame
   * with only what changed; more than 10 fingers: the extra ones are ignored.
   */
  contacts(now: readonly Contact[]): void {
    const ev: InputEvent[] = [];
    const seen = new Set<number>();
    const live = now.filter((c) => Number.isInteger(c.id)).slice(0, 32);
    for (let s = 0; s < TOUCH_SLOTS; s++) {
      const cur = this.slots[s];
      if (cur && !live.some((c) => c.id === cur.id)) {
        ev.push(abs(Abs.MtSlot, s), abs(Abs.MtTrackingId, -1));
        this.slots[s] = undefined;
      }
    }
    for (const c of live) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      const x = clamp(c.x, 0, ABS_MAX);
      const y = clamp(c.y, 0, ABS_MAX);
      let s = this.slots.findIndex((v) => v?.id === c.id);
      if (s < 0) {
        s = this.slots.findIndex((v) => v === undefined);
        if (s < 0) {
          this.log.debug('virtio-input touch: more than 10 fingers; extra ones ignored');
          continue;
        }
        ev.push(abs(Abs.MtSlot, s), abs(Abs.MtTrackingId, this.nextTracking));
        this.nextTracking = (this.nextTracking + 1) & 0xffff;
        ev.push(abs(Abs.MtPositionX, x), abs(Abs.MtPositionY, y));
        this.slots[s] = { id: c.id, x, y };
        continue;
      }
      const cur = this.slots[s]!;
      if (cur.x === x && cur.y === y) continue;
      ev.push(abs(Abs.MtSlot, s));
      if (cur.x !== x) ev.push(abs(Abs.MtPositionX, x));
      if (cur.y !== y) ev.push(abs(Abs.MtPositionY, y));
      cur.x = x;
      cur.y = y;
    }
    const first = this.slots.find((v) => v !== undefined);
    if (!!first !== this.touching) {
      this.touching = !!first;
      ev.push(key(Btn.Touch, first ? 1 : 0));
    }
    if (first && ev.length) ev.push(abs(Abs.X, first.x), abs(Abs.Y, first.y));
    this.sendFrame(ev);
  }

  /** Lift every finger (the client that put them down went away). */
  releaseAll(): void {
    if (this.slots.some((v) => v !== undefined)) this.contacts([]);
  }

  override reset(): void {
    super.reset();
    this.slots = new Array(TOUCH_SLOTS);
    this.touching = false;
  }
}
