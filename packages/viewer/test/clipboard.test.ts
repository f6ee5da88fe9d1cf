import { describe, expect, it } from 'vitest';
import {
  CLIPBOARD_PIECE,
  ClipboardAssembler,
  InputDispatcher,
  MAX_CLIPBOARD,
  clipboardMessages,
  decodeServerMessage,
  encodeClipboard,
  parseClientMessage,
} from '../src/index.js';

describe('clipboard in the viewer protocol', () => {
  it('the guest clipboard goes to the page as one binary message', () => {
    const b = encodeClipboard('héllo ✓');
    expect(b[0]).toBe(5);
    expect(decodeServerMessage(b)).toEqual({ type: 'clipboard', text: 'héllo ✓' });
    expect(decodeServerMessage(new Uint8Array(MAX_CLIPBOARD + 2).fill(5))).toBeNull();
  });

  it('the page clipboard goes in checked pieces, each under the message limit whatever it holds', () => {
    const text = '\u0001'.repeat(CLIPBOARD_PIECE * 2 + 3);
    const msgs = clipboardMessages(text);
    expect(msgs.length).toBe(3);
    for (const m of msgs) {
      const wire = JSON.stringify(m);
      expect(wire.length).toBeLessThan(4096);
      expect(parseClientMessage(wire)).toEqual(m);
    }
    expect(clipboardMessages('')).toEqual([{ t: 'clipboard', text: '', last: true }]);
    expect(typeof parseClientMessage(JSON.stringify({ t: 'clipboard', text: 'x' }))).toBe('string');
    expect(
      typeof parseClientMessage(
        JSON.stringify({ t: 'clipboard', text: 'x'.repeat(CLIPBOARD_PIECE + 1), last: true }),
      ),
    ).toBe('string');
  });

  it('pieces are reassembled, and a text over the bound is dropped whole', () => {
    const a = new ClipboardAssembler();
    expect(a.piece('ab', false)).toBeNull();
    expect(a.piece('c', true)).toEqual({ text: 'abc' });
    const big = 'x'.repeat(CLIPBOARD_PIECE);
    let r: ReturnType<ClipboardAssembler['piece']> = null;
    for (let i = 0; i * CLIPBOARD_PIECE <= MAX_CLIPBOARD; i++) r = a.piece(big, false);
    expect(r).toBeNull();
    expect(typeof a.piece('end', true)).toBe('string');
    expect(a.piece('next', true)).toEqual({ text: 'next' });
  });

  it('the dispatcher gives the guest the whole text', () => {
    const got: string[] = [];
    const warns: string[] = [];
    const d = new InputDispatcher({ clipboard: { setText: (t) => got.push(t) }, warn: (w) => warns.push(w) });
    const text = 'line 1\nline 2 — ✓ '.repeat(100);
    for (const m of clipboardMessages(text)) d.apply(m);
    expect(got).toEqual([text]);
    expect(warns).toEqual([]);
  });
});
