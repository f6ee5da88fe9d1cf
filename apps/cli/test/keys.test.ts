/**
 * Issue 20: key events from any client type what the client meant on the guest's US layout — the
 * synthesis table (keyAction), the per-client translator (what each key-up undoes), and a fuzz of the
 * viewer's key and text messages.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyTranslator, Mod, keyAction } from '../src/viewer/keys.js';
import { MAX_TEXT, parseClientMessage } from '../src/viewer/protocol.js';

const LONG = process.env.VDESK_LONG === '1';

describe('keyAction: the synthesis table', () => {
  it.each([
    // code, key, shift held, mods → action
    ['Backslash', '|', false, 0, { kind: 'char', code: 'Backslash', shift: true }],
    ['Backslash', '|', true, 0, { kind: 'physical', code: 'Backslash' }],
    ['Backslash', '\\', false, 0, { kind: 'physical', code: 'Backslash' }],
    ['Backquote', '~', false, 0, { kind: 'char', code: 'Backquote', shift: true }],
    ['Quote', '"', false, 0, { kind: 'char', code: 'Quote', shift: true }],
    ['Digit1', '!', false, 0, { kind: 'char', code: 'Digit1', shift: true }],
    ['KeyA', 'a', false, 0, { kind: 'physical', code: 'KeyA' }],
    ['KeyA', 'A', true, 0, { kind: 'physical', code: 'KeyA' }],
    ['KeyA', 'A', false, 0, { kind: 'char', code: 'KeyA', shift: true }],
    ['KeyA', 'a', true, 0, { kind: 'char', code: 'KeyA', shift: false }],
    // CapsLock (in the guest as in the client): an uppercase letter needs no Shift, lowercase does
    ['KeyA', 'A', false, Mod.CapsLock, { kind: 'physical', code: 'KeyA' }],
    ['KeyA', 'a', true, Mod.CapsLock, { kind: 'physical', code: 'KeyA' }],
    ['Digit1', '1', false, Mod.CapsLock, { kind: 'physical', code: 'Digit1' }],
    // no code, or an unusable one: from the character
    ['', '|', false, 0, { kind: 'char', code: 'Backslash', shift: true }],
    ['Unidentified', 'x', false, 0, { kind: 'char', code: 'KeyX', shift: false }],
    ['', '@', true, 0, { kind: 'char', code: 'Digit2', shift: true }],
    // another layout: German Z sits where US has Y; AltGr+Q is @
    ['KeyY', 'z', false, 0, { kind: 'char', code: 'KeyZ', shift: false }],
    ['KeyQ', '@', false, Mod.AltGraph, { kind: 'char', code: 'Digit2', shift: true }],
    // named keys: the physical key, or the name when there is none
    ['Enter', 'Enter', false, 0, { kind: 'physical', code: 'Enter' }],
    ['', 'Enter', false, 0, { kind: 'physical', code: 'Enter' }],
    ['', 'ArrowLeft', false, 0, { kind: 'physical', code: 'ArrowLeft' }],
    ['', 'Shift', false, 0, { kind: 'physical', code: 'ShiftLeft' }],
    ['', 'Backspace', false, 0, { kind: 'physical', code: 'Backspace' }],
    ['ShiftRight', 'Shift', false, 0, { kind: 'physical', code: 'ShiftRight' }],
    ['Space', ' ', true, 0, { kind: 'physical', code: 'Space' }],
    ['', ' ', false, 0, { kind: 'char', code: 'Space', shift: false }],
    ['Numpad1', '1', false, 0, { kind: 'physical', code: 'Numpad1' }],
    // no key at all: the code alone (old clients); nothing usable: nothing
    ['KeyQ', undefined, false, 0, { kind: 'physical', code: 'KeyQ' }],
    ['Quote', 'Dead', false, 0, { kind: 'none' }],
    ['', 'Process', false, 0, { kind: 'none' }],
    ['', 'é', false, 0, { kind: 'none' }],
    ['KeyE', 'é', false, 0, { kind: 'physical', code: 'KeyE' }],
    ['NoSuchCode', 'NoSuchKey', false, 0, { kind: 'none' }],
    ['NoSuchCode', undefined, false, 0, { kind: 'physical', code: 'NoSuchCode' }],
  ] as [string, string | undefined, boolean, number, unknown][])(
    'code %j key %j shift %j mods %j',
    (code, key, shift, mods, want) => {
      expect(keyAction(code, key, shift, mods)).toEqual(want);
    },
  );
});

describe('KeyTranslator', () => {
  it('types "|" without Shift from the client as Shift+Backslash, and its key-up does nothing', () => {
    const k = new KeyTranslator();
    expect(k.event('Backslash', '|', true)).toEqual([
      ['ShiftLeft', true],
      ['Backslash', true],
      ['Backslash', false],
      ['ShiftLeft', false],
    ]);
    expect(k.event('Backslash', '|', false)).toEqual([]);
    expect(k.held.size).toBe(0);
  });

  it('passes a real keyboard through: Shift held, then the key', () => {
    const k = new KeyTranslator();
    expect(k.event('ShiftLeft', 'Shift', true, Mod.Shift)).toEqual([['ShiftLeft', true]]);
    expect(k.event('Backslash', '|', true, Mod.Shift)).toEqual([['Backslash', true]]);
    expect(k.event('Backslash', '|', false, Mod.Shift)).toEqual([['Backslash', false]]);
    expect(k.event('ShiftLeft', 'Shift', false)).toEqual([['ShiftLeft', false]]);
  });

  it('releases Shift around a character that must not be shifted, then holds it again', () => {
    const k = new KeyTranslator();
    k.event('ShiftRight', 'Shift', true, Mod.Shift);
    expect(k.event('', 'a', true, Mod.Shift)).toEqual([
      ['ShiftRight', false],
      ['KeyA', true],
      ['KeyA', false],
      ['ShiftRight', true],
    ]);
    expect([...k.held]).toEqual(['ShiftRight']);
  });

  it('lets go of AltGr around a synthesised character', () => {
    const k = new KeyTranslator();
    k.event('AltRight', 'AltGraph', true, Mod.AltGraph);
    expect(k.event('KeyQ', '@', true, Mod.AltGraph)).toEqual([
      ['AltRight', false],
      ['ShiftLeft', true],
      ['Digit2', true],
      ['Digit2', false],
      ['ShiftLeft', false],
      ['AltRight', true],
    ]);
  });

  it('a key-up releases what its key-down pressed, even when the names differ', () => {
    const k = new KeyTranslator();
    expect(k.event('', 'Enter', true)).toEqual([['Enter', true]]);
    expect(k.event('', 'Enter', false)).toEqual([['Enter', false]]);
    expect(k.event('KeyZ', 'z', false)).toEqual([]); // never pressed
    k.event('ControlLeft', 'Control', true);
    k.event('KeyC', 'c', true, Mod.Control);
    expect(k.releaseAll().sort()).toEqual([
      ['ControlLeft', false],
      ['KeyC', false],
    ]);
  });

  it('stays bounded under a client that never releases', () => {
    const k = new KeyTranslator();
    for (let i = 0; i < 10_000; i++) k.event(`x${i}`, String.fromCharCode(97 + (i % 26)), true);
    expect((k as unknown as { pressed: Map<string, unknown> }).pressed.size).toBeLessThanOrEqual(64);
  });
});

describe('viewer key and text messages', () => {
  it('accepts keys with key and mods, keys without a code, and text', () => {
    expect(parseClientMessage('{"t":"key","code":"","key":"|","down":true,"mods":0}')).toEqual({
      t: 'key',
      code: '',
      key: '|',
      down: true,
      mods: 0,
    });
    expect(parseClientMessage('{"t":"text","text":"héllo"}')).toEqual({ t: 'text', text: 'héllo' });
    expect(parseClientMessage('{"t":"key","code":"","down":true}')).toMatch(/code or a key/);
    expect(parseClientMessage('{"t":"key","code":"KeyA","key":7,"down":true}')).toMatch(/key must be/);
    expect(parseClientMessage('{"t":"key","code":"KeyA","down":true,"mods":64}')).toMatch(/mods/);
    expect(parseClientMessage(JSON.stringify({ t: 'text', text: 'x'.repeat(MAX_TEXT + 1) }))).toMatch(
      /text needs/,
    );
    expect(parseClientMessage('{"t":"text","text":""}')).toMatch(/text needs/);
  });

  it('fuzz: never throws; what it accepts is bounded, and the translator takes it without throwing', () => {
    const k = new KeyTranslator();
    const field = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        '',
        'Unidentified',
        'KeyA',
        'Backslash',
        'ShiftLeft',
        '|',
        'Enter',
        'Dead',
        '\u{1F600}',
      ),
      fc.integer({ min: -5, max: 100 }),
      fc.boolean(),
      fc.constant(null),
      fc.anything(),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('key', 'text', 'x'),
        fc.dictionary(fc.constantFrom('code', 'key', 'down', 'mods', 'text', '__proto__'), field),
        (t, rest) => {
          let s: string;
          try {
            s = JSON.stringify({ t, ...rest });
          } catch {
            return;
          }
          const m = parseClientMessage(s);
          if (typeof m === 'string') {
            expect(m.length).toBeLessThan(200);
            return;
          }
          if (m.t === 'key') {
            expect(m.code.length).toBeLessThanOrEqual(32);
            expect((m.key ?? '').length).toBeLessThanOrEqual(32);
            const ops = k.event(m.code, m.key, m.down, m.mods);
            expect(ops.length).toBeLessThanOrEqual(10);
          } else if (m.t === 'text') expect(m.text.length).toBeLessThanOrEqual(MAX_TEXT);
        },
      ),
      { numRuns: LONG ? 50_000 : 1000, seed: LONG ? undefined : 20 },
    );
    expect(k.held.size).toBeLessThanOrEqual(200);
  });
});
