import { describe, expect, it } from 'vitest';
import { ALL_KEYS, DOM_CODE_TO_KEY, keyByName, parseChord, textToStrokes } from '../src/keymap.js';

describe('key maps', () => {
  it('maps DOM codes to the Linux numbers of input-event-codes.h', () => {
    const want: Record<string, number> = {
      Escape: 1, Digit1: 2, Digit0: 11, KeyQ: 16, KeyA: 30, KeyZ: 44, KeyM: 50, Enter: 28, ShiftLeft: 42,
      Space: 57, F1: 59, F10: 68, F11: 87, F12: 88, F13: 183, F24: 194, NumpadEnter: 96, ControlRight: 97,
      AltRight: 100, ArrowUp: 103, ArrowDown: 108, Delete: 111, MetaLeft: 125, ContextMenu: 127,
      IntlBackslash: 86, Numpad0: 82, NumpadDecimal: 83, PrintScreen: 99, Pause: 119,
    }; // prettier-ignore
    for (const [code, key] of Object.entries(want))
      expect([code, DOM_CODE_TO_KEY[code]]).toEqual([code, key]);
    expect(new Set(Object.values(DOM_CODE_TO_KEY)).size).toBe(ALL_KEYS.length);
    for (let k = 1; k <= 88; k++) if (k !== 84) expect(ALL_KEYS).toContain(k);
  });

  it('parses command-line chords and rejects unknown names with the name', () => {
    expect(parseChord('ctrl+alt+delete')).toEqual([29, 56, 111]);
    expect(parseChord('Shift+KeyA')).toEqual([42, 30]);
    expect(parseChord('f5')).toEqual([63]);
    expect(parseChord('30')).toEqual([30]);
    expect(keyByName('nope')).toBeUndefined();
    expect(keyByName('9999')).toBeUndefined();
    expect(() => parseChord('ctrl+nope')).toThrow('unknown key "nope"');
    expect(() => parseChord('+')).toThrow(/1 to 8 keys/);
  });

  it('types text on a US layout with shift where needed', () => {
    const { strokes, unknown } = textToStrokes('aZ1!\n ~');
    expect(strokes).toEqual([
      { key: 30, shift: false },
      { key: 44, shift: true },
      { key: 2, shift: false },
      { key: 2, shift: true },
      { key: 28, shift: false },
      { key: 57, shift: false },
      { key: 41, shift: true },
    ]);
    expect(unknown).toEqual([]);
    expect(textToStrokes('ü€').unknown).toEqual(['ü', '€']);
  });
});
