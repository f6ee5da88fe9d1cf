/**
 * The machine's virtio-input devices as the viewer's InputSink and as the targets of `vdesk key/type/move/
 * click/scroll/touch`. Devices are found by type, so a machine may have any subset of them, from any
 * package that provides them.
 */
import type { RiscvMachine } from '@virtio-desktop/machine';
import { DeviceId, type VirtioDevice } from '@virtio-desktop/virtio-core';
import {
  ABS_MAX,
  MAX_PENDING_FRAMES,
  PointerButton,
  parseChord,
  type Keyboard,
  type Pointer,
  type PointerButtonName,
  type Touchscreen,
} from '@virtio-desktop/virtio-input';
import type { InputSink } from './viewer/display.js';

// By device type and the methods used here, not instanceof or plugin names: the machine may have loaded
// the package from another path, or from another package that provides the same devices.
const has = (d: VirtioDevice, ...methods: string[]): boolean =>
  d.deviceId === DeviceId.Input &&
  methods.every((m) => typeof (d as unknown as Record<string, unknown>)[m] === 'function');
const isKeyboard = (d: VirtioDevice): d is Keyboard => has(d, 'domKey', 'typePaced');
const isPointer = (d: VirtioDevice): d is Pointer => has(d, 'state', 'wheel');
const isTouchscreen = (d: VirtioDevice): d is Touchscreen => has(d, 'contacts');

const scale = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * ABS_MAX);

export class MachineInput implements InputSink {
  readonly keyboard?: Keyboard;
  readonly pointerDev?: Pointer;
  readonly touchscreen?: Touchscreen;

  constructor(machine: RiscvMachine) {
    for (const { device: d } of machine.devices) {
      if (isKeyboard(d)) this.keyboard ??= d;
      else if (isPointer(d)) this.pointerDev ??= d;
      else if (isTouchscreen(d)) this.touchscreen ??= d;
    }
  }

  get any(): boolean {
    return !!(this.keyboard || this.pointerDev || this.touchscreen);
  }

  key(code: string, down: boolean): boolean {
    return this.keyboard?.domKey(code, down) ?? false;
  }

  /** Text from the viewer (IME, paste): typed at the guest's pace, like `vdesk type`. */
  async text(text: string): Promise<string[]> {
    if (!this.keyboard) return [];
    return (await this.keyboard.typePaced(text, 5000, 8)).unknown;
  }

  pointer(x: number, y: number, buttons: number): void {
    this.pointerDev?.state(scale(x), scale(y), buttons);
  }

  wheel(dx: number, dy: number): void {
    this.pointerDev?.wheel(dy, dx);
  }

  touch(contacts: { id: number; x: number; y: number }[]): void {
    this.touchscreen?.contacts(contacts.map((c) => ({ id: c.id, x: scale(c.x), y: scale(c.y) })));
  }

  /** `vdesk key`: each argument a chord ("ctrl+alt+delete"), pressed in turn. */
  chords(chords: string[]): void {
    const kb = this.need(this.keyboard, 'keyboard');
    const parsed = chords.map(parseChord); // all checked before any key goes down
    for (const c of parsed) kb.chord(c);
  }

  /**
   * `vdesk type`: at the guest's pace (each keystroke waits for room in the keyboard's queue), so no
   * keystroke is dropped; a guest that stops reading, or a lost event, is an error with a count.
   */
  async type(text: string, intervalMs = 8): Promise<number> {
    // Spaced by default (8 ms a keystroke: 125 a second, faster than any typist): Linux's evdev buffer
    // per reader is a few dozen events, and a guest application slower than the driver loses what
    // overflows it, where the host cannot see it.
    const { typed, unknown } = await this.need(this.keyboard, 'keyboard').typePaced(text, 5000, intervalMs);
    if (unknown.length)
      throw new Error(`typed all but ${unknown.length} characters a US layout has no key for`);
    return typed;
  }

  /** x and y in 0..1 of the screen. */
  move(x: number, y: number): void {
    const p = this.need(this.pointerDev, 'pointer');
    p.move(scale(x), scale(y));
  }

  click(x: number, y: number, button: string): void {
    const p = this.need(this.pointerDev, 'pointer');
    if (!Object.hasOwn(PointerButton, button))
      throw new Error(`unknown button "${button}" (left, right, middle, side, extra)`);
    p.move(scale(x), scale(y));
    p.button(button as PointerButtonName, true);
    p.button(button as PointerButtonName, false);
  }

  scroll(dy: number, dx: number): void {
    this.need(this.pointerDev, 'pointer').wheel(dy, dx);
  }

  /** One frame of a scripted gesture, after the guest has room for it (a gesture never overflows). */
  async touchFrame(contacts: { id: number; x: number; y: number }[]): Promise<void> {
    const t = this.need(this.touchscreen, 'touchscreen');
    await t.whenRoom(MAX_PENDING_FRAMES - 1, 5000);
    this.touch(contacts);
  }

  private need<T>(d: T | undefined, what: string): T {
    if (!d) throw new Error(`this machine has no virtio-input ${what}`);
    return d;
  }
}
