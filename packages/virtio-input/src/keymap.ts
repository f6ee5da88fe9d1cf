/**
 * Key codes: DOM `KeyboardEvent.code` (a physical key, whatever the layout) → Linux KEY_* numbers, names
 * for command lines ("ctrl", "f1", "a") → KEY_*, and text → key strokes on a US layout. Browser-safe.
 *
 * The numbers are Linux's (include/uapi/linux/input-event-codes.h); the DOM names are the UI Events
 * KeyboardEvent code values. Written out by hand: no maintained npm package maps one to the other
 * without pulling in a browser-side keyboard library.
 */

/** DOM KeyboardEvent.code → Linux key code. */
export const DOM_CODE_TO_KEY: Readonly<Record<string, number>> = (() => {
  const m: Record<string, number> = {
    Escape: 1,
    Minus: 12,
    Equal: 13,
    Backspace: 14,
    Tab: 15,
    BracketLeft: 26,
    BracketRight: 27,
    Enter: 28,
    ControlLeft: 29,
    Semicolon: 39,
    Quote: 40,
    Backquote: 41,
    ShiftLeft: 42,
    Backslash: 43,
    Comma: 51,
    Period: 52,
    Slash: 53,
    ShiftRight: 54,
    NumpadMultiply: 55,
    AltLeft: 56,
    Space: 57,
    CapsLock: 58,
    NumLock: 69,
    ScrollLock: 70,
    Numpad7: 71,
    Numpad8: 72,
    Numpad9: 73,
    NumpadSubtract: 74,
    Numpad4: 75,
    Numpad5: 76,
    Numpad6: 77,
    NumpadAdd: 78,
    Numpad1: 79,
    Numpad2: 80,
    Numpad3: 81,
    Numpad0: 82,
    NumpadDecimal: 83,
    Lang5: 85, // KEY_ZENKAKUHANKAKU
    IntlBackslash: 86, // KEY_102ND
    F11: 87,
    F12: 88,
    IntlRo: 89,
    Lang3: 90, // KEY_KATAKANA
    Lang4: 91, // KEY_HIRAGANA
    Convert: 92,
    KanaMode: 93,
    NonConvert: 94,
    NumpadEnter: 96,
    ControlRight: 97,
    NumpadDivide: 98,
    PrintScreen: 99,
    AltRight: 100,
    Home: 102,
    ArrowUp: 103,
    PageUp: 104,
    ArrowLeft: 105,
    ArrowRight: 106,
    End: 107,
    ArrowDown: 108,
    PageDown: 109,
    Insert: 110,
    Delete: 111,
    AudioVolumeMute: 113,
    AudioVolumeDown: 114,
    AudioVolumeUp: 115,
    Power: 116,
    NumpadEqual: 117,
    Pause: 119,
    NumpadComma: 121,
    Lang1: 122, // KEY_HANGEUL
    Lang2: 123, // KEY_HANJA
    IntlYen: 124,
    MetaLeft: 125,
    MetaRight: 126,
    ContextMenu: 127, // KEY_COMPOSE, what PC keyboards' menu key sends
    BrowserStop: 128,
    Again: 129,
    Props: 130,
    Undo: 131,
    Copy: 133,
    Open: 134,
    Paste: 135,
    Find: 136,
    Cut: 137,
    Help: 138,
    Sleep: 142,
    WakeUp: 143,
    LaunchApp1: 157, // KEY_COMPUTER
    LaunchMail: 155,
    BrowserFavorites: 156,
    BrowserBack: 158,
    BrowserForward: 159,
    Eject: 161, // KEY_EJECTCD
    MediaTrackNext: 163,
    MediaPlayPause: 164,
    MediaTrackPrevious: 165,
    MediaStop: 166,
    BrowserHome: 172,
    BrowserRefresh: 173,
    LaunchApp2: 140, // KEY_CALC
    BrowserSearch: 217,
    MediaSelect: 226, // KEY_MEDIA
    Fn: 0x1d0,
  };
  const letters = 'QWERTYUIOP';
  for (let i = 0; i < letters.length; i++) m[`Key${letters[i]}`] = 16 + i;
  const home = 'ASDFGHJKL';
  for (let i = 0; i < home.length; i++) m[`Key${home[i]}`] = 30 + i;
  const bottom = 'ZXCVBNM';
  for (let i = 0; i < bottom.length; i++) m[`Key${bottom[i]}`] = 44 + i;
  for (let d = 1; d <= 9; d++) m[`Digit${d}`] = 1 + d;
  m.Digit0 = 11;
  for (let f = 1; f <= 10; f++) m[`F${f}`] = 58 + f;
  for (let f = 13; f <= 24; f++) m[`F${f}`] = 170 + f; // KEY_F13 = 183
  return Object.freeze(m);
})();

/** Every key code the keyboard profile advertises. */
export const ALL_KEYS: readonly number[] = [...new Set(Object.values(DOM_CODE_TO_KEY))].sort((a, b) => a - b);

/** Short names used on command lines (`vdesk key ctrl+alt+delete`), lowercase. */
const NAMES: Readonly<Record<string, number>> = (() => {
  const n: Record<string, number> = {
    esc: 1,
    escape: 1,
    minus: 12,
    equal: 13,
    backspace: 14,
    tab: 15,
    enter: 28,
    return: 28,
    ctrl: 29,
    control: 29,
    lctrl: 29,
    rctrl: 97,
    shift: 42,
    lshift: 42,
    rshift: 54,
    alt: 56,
    lalt: 56,
    ralt: 100,
    altgr: 100,
    meta: 125,
    super: 125,
    win: 125,
    space: 57,
    capslock: 58,
    numlock: 69,
    scrolllock: 70,
    print: 99,
    sysrq: 99,
    pause: 119,
    home: 102,
    up: 103,
    pageup: 104,
    left: 105,
    right: 106,
    end: 107,
    down: 108,
    pagedown: 109,
    insert: 110,
    delete: 111,
    del: 111,
    menu: 127,
    power: 116,
    comma: 51,
    period: 52,
    dot: 52,
    slash: 53,
    backslash: 43,
    semicolon: 39,
    apostrophe: 40,
    quote: 40,
    grave: 41,
    backquote: 41,
    leftbrace: 26,
    rightbrace: 27,
  };
  for (const [code, key] of Object.entries(DOM_CODE_TO_KEY)) {
    if (code.startsWith('Key')) n[code.slice(3).toLowerCase()] = key;
    else if (code.startsWith('Digit')) n[code.slice(5)] = key;
    else if (/^F\d+$/.test(code)) n[code.toLowerCase()] = key;
  }
  return Object.freeze(n);
})();

/**
 * A key by name: a command-line name ("ctrl", "a", "f5"), a DOM code ("KeyA", "ArrowUp") or a number.
 * Returns undefined for anything unknown.
 */
export function keyByName(name: string): number | undefined {
  if (/^\d{1,3}$/.test(name)) {
    const k = Number(name);
    return k > 0 && k <= 0x2ff ? k : undefined;
  }
  return NAMES[name.toLowerCase()] ?? DOM_CODE_TO_KEY[name];
}

/** "ctrl+alt+delete" → [29, 56, 111]; throws a one-line Error naming the unknown part. */
export function parseChord(chord: string): number[] {
  const parts = chord.split('+').filter((p) => p.length > 0);
  if (parts.length === 0 || parts.length > 8) throw new Error(`"${chord}": a chord has 1 to 8 keys`);
  return parts.map((p) => {
    const k = keyByName(p);
    if (k === undefined) throw new Error(`unknown key "${p}"`);
    return k;
  });
}

const SHIFT = 42;
/** Characters of a US layout: [key, needs shift]. */
const US: Readonly<Record<string, readonly [number, boolean]>> = (() => {
  const m: Record<string, readonly [number, boolean]> = {
    ' ': [57, false],
    '\n': [28, false],
    '\t': [15, false],
  };
  for (const [code, key] of Object.entries(DOM_CODE_TO_KEY)) {
    if (code.startsWith('Key')) {
      m[code[3].toLowerCase()] = [key, false];
      m[code[3]] = [key, true];
    } else if (code.startsWith('Digit')) m[code[5]] = [key, false];
  }
  const pairs: [string, string, number][] = [
    ['-', '_', 12],
    ['=', '+', 13],
    ['[', '{', 26],
    [']', '}', 27],
    [';', ':', 39],
    ["'", '"', 40],
    ['`', '~', 41],
    ['\\', '|', 43],
    [',', '<', 51],
    ['.', '>', 52],
    ['/', '?', 53],
  ];
  for (const [plain, shifted, key] of pairs) {
    m[plain] = [key, false];
    m[shifted] = [key, true];
  }
  const shiftedDigits = ')!@#$%^&*(';
  for (let d = 0; d < 10; d++) m[shiftedDigits[d]] = [d === 0 ? 11 : 1 + d, true];
  return Object.freeze(m);
})();

/** One key stroke of typed text: the key, with shift held around it or not. */
export interface Stroke {
  key: number;
  shift: boolean;
}

/**
 * Text → key strokes on a US layout. Characters the layout cannot type are returned in `unknown` (the
 * caller decides whether that is an error).
 */
export function textToStrokes(text: string): { strokes: Stroke[]; unknown: string[] } {
  const strokes: Stroke[] = [];
  const unknown: string[] = [];
  for (const ch of text) {
    const k = US[ch];
    if (k) strokes.push({ key: k[0], shift: k[1] });
    else unknown.push(ch);
  }
  return { strokes, unknown };
}

export const SHIFT_KEY = SHIFT;
