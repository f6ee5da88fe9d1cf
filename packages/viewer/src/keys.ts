/**
 * Key events from any client, made to type what the client meant on the guest's US layout. A browser
 * sends the physical key (`code`) and the character it produced (`key`); automation tools, on-screen
 * keyboards and other layouts send characters whose physical key and modifiers disagree with a US
 * layout (key "|" with code "Backslash" and no Shift), or no code at all. When pressing `code` with the
 * guest's modifiers would not type `key`, the right keys are synthesised from `key` instead.
 */
import { DOM_CODE_TO_KEY, textToStrokes } from '@virtio-desktop/virtio-input';

/** Modifier bits a client reports with a key event (KeyboardEvent.getModifierState). */
export const Mod = { Shift: 1, Control: 2, Alt: 4, Meta: 8, CapsLock: 16, AltGraph: 32 } as const;

/** What one key event does in the guest. */
export type KeyAction =
  /** Press or release this physical key (a DOM code the keyboard has). */
  | { kind: 'physical'; code: string }
  /** Type this key (a DOM code), with Shift held around it or not: a character, on key down only. */
  | { kind: 'char'; code: string; shift: boolean }
  /** Nothing (a dead key, an IME's key, a character no US key types). */
  | { kind: 'none' };

/** Linux key number → the DOM code of that key (the first one listed). */
const CODE_OF_KEY: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [code, key] of Object.entries(DOM_CODE_TO_KEY)) if (!m.has(key)) m.set(key, code);
  return m;
})();

/** Named keys (`KeyboardEvent.key`) → a physical key, for clients that send no usable code. */
const NAMED: Readonly<Record<string, string>> = {
  Enter: 'Enter',
  Tab: 'Tab',
  Backspace: 'Backspace',
  Escape: 'Escape',
  Delete: 'Delete',
  Insert: 'Insert',
  Home: 'Home',
  End: 'End',
  PageUp: 'PageUp',
  PageDown: 'PageDown',
  ArrowUp: 'ArrowUp',
  ArrowDown: 'ArrowDown',
  ArrowLeft: 'ArrowLeft',
  ArrowRight: 'ArrowRight',
  Shift: 'ShiftLeft',
  Control: 'ControlLeft',
  Alt: 'AltLeft',
  AltGraph: 'AltRight',
  Meta: 'MetaLeft',
  CapsLock: 'CapsLock',
  NumLock: 'NumLock',
  ScrollLock: 'ScrollLock',
  ContextMenu: 'ContextMenu',
  PrintScreen: 'PrintScreen',
  Pause: 'Pause',
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, `F${i + 1}`])),
};

const known = (code: string): boolean => Object.hasOwn(DOM_CODE_TO_KEY, code);
/** One printable character (a single code point, not a control character). */
const printable = (key: string): boolean => [...key].length === 1 && key >= ' ' && key !== '\x7f';
const isLetter = (c: string): boolean => /^[a-zA-Z]$/.test(c);

/**
 * What a key event with physical key `code` (may be "" or "Unidentified") and character or key name `key`
 * does, given whether Shift is held in the guest now and the client's CapsLock / AltGraph state (`mods`).
 */
export function keyAction(code: string, key: string | undefined, shiftHeld: boolean, mods = 0): KeyAction {
  // A client that sends no key (the protocol before keys were synthesised): the code as it is, known
  // here or not (the keyboard decides).
  if (key === undefined && code !== '') return { kind: 'physical', code };
  const physical = known(code) ? code : null;
  if (key === undefined || key === '' || key === 'Unidentified')
    return physical ? { kind: 'physical', code: physical } : { kind: 'none' };
  if (!printable(key)) {
    // A named key: trust the physical key when there is one, else the name.
    if (key === 'Dead' || key === 'Process' || key === 'Compose') return { kind: 'none' };
    if (physical) return { kind: 'physical', code: physical };
    const named = NAMED[key];
    return named && known(named) ? { kind: 'physical', code: named } : { kind: 'none' };
  }
  // The keypad types digits and operators of its own; the guest's NumLock decides what they mean.
  if (physical?.startsWith('Numpad')) return { kind: 'physical', code: physical };
  const { strokes } = textToStrokes(key);
  const want = strokes[0];
  // A character no US key types: the physical key is the best guess left (e.g. "é" on KeyE).
  if (!want) return physical ? { kind: 'physical', code: physical } : { kind: 'none' };
  const caps = (mods & Mod.CapsLock) !== 0 && isLetter(key);
  // Shift the guest needs for this character (CapsLock inverts it for letters, in the guest as here).
  const shift = caps ? want.shift !== true : want.shift;
  const wantCode = CODE_OF_KEY.get(want.key);
  if (physical && DOM_CODE_TO_KEY[physical] === want.key && (key === ' ' || shiftHeld === shift))
    return { kind: 'physical', code: physical };
  return wantCode ? { kind: 'char', code: wantCode, shift } : { kind: 'none' };
}

const SHIFTS = ['ShiftLeft', 'ShiftRight'];
/** Keys that make AltGr (AltRight; ControlLeft+AltRight on Windows): released around a synthesised key. */
const ALTGR = ['AltRight', 'ControlLeft'];
/** Client keys down at once that we remember; a client that never releases loses its oldest. */
const MAX_PRESSED = 64;

/**
 * One client's key events → presses and releases of physical keys (DOM codes) in the guest. Tracks what
 * the client holds, so its key-up undoes what its key-down did (a synthesised character is pressed and
 * released at once; its key-up does nothing).
 */
export class KeyTranslator {
  /** Physical keys held down in the guest for this client. */
  readonly held = new Set<string>();
  /** Each client key held (by code, or by key when there is no code) → the physical key we hold for it. */
  private readonly pressed = new Map<string, string | null>();

  event(code: string, key: string | undefined, down: boolean, mods = 0): [string, boolean][] {
    const id = code && code !== 'Unidentified' ? code : `key:${key ?? ''}`;
    if (!down) {
      const p = this.pressed.get(id);
      this.pressed.delete(id);
      const c = p === undefined && known(code) ? code : p;
      if (!c || !this.held.has(c)) return [];
      this.held.delete(c);
      return [[c, false]];
    }
    const shiftHeld = SHIFTS.some((s) => this.held.has(s));
    const a = keyAction(code, key, shiftHeld, mods);
    if (this.pressed.size >= MAX_PRESSED && !this.pressed.has(id))
      this.pressed.delete(this.pressed.keys().next().value as string);
    this.pressed.delete(id); // re-inserted: the map's order is the order of presses
    if (a.kind === 'none') {
      this.pressed.set(id, null);
      return [];
    }
    if (a.kind === 'physical') {
      this.pressed.set(id, a.code);
      this.held.add(a.code);
      return [[a.code, true]];
    }
    this.pressed.set(id, null);
    // Let go of what would change the character (wrong Shift, AltGr), type it, and press them again.
    const off = [
      ...(a.shift ? [] : SHIFTS.filter((s) => this.held.has(s))),
      ...(mods & Mod.AltGraph ? ALTGR.filter((s) => this.held.has(s)) : []),
    ];
    const addShift = a.shift && !shiftHeld;
    const ops: [string, boolean][] = off.map((c) => [c, false]);
    if (addShift) ops.push(['ShiftLeft', true]);
    ops.push([a.code, true], [a.code, false]);
    if (addShift) ops.push(['ShiftLeft', false]);
    ops.push(...off.map((c): [string, boolean] => [c, true]));
    return ops;
  }

  /** Everything this client holds, released (it went away). */
  releaseAll(): [string, boolean][] {
    const ops = [...this.held].map((c): [string, boolean] => [c, false]);
    this.held.clear();
    this.pressed.clear();
    return ops;
  }
}
