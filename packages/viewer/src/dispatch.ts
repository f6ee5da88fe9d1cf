/**
 * Client messages (protocol.ts) applied to a machine's {@link InputSink} and {@link DisplaySource}: keys
 * made to type what the client meant on the guest's US layout (keys.ts), text typed at the guest's pace
 * with a bound on what waits, positions clamped to the screen, sizes debounced and bounded. One
 * dispatcher per client: it remembers what that client holds, and releases it when the client goes.
 */
import { ClipboardAssembler, type ClipboardSource } from './clipboard.js';
import type { DisplaySource, InputSink } from './display.js';
import { KeyTranslator } from './keys.js';
import type { ClientMessage } from './protocol.js';

/** Characters of text (IME, paste) one client may have waiting to be typed. */
export const MAX_TEXT_WAITING = 20_000;
/** Screen sizes a client may ask for. */
export const MIN_SIZE = { width: 320, height: 200 } as const;
export const MAX_SIZE = { width: 7680, height: 4320 } as const;

export interface InputDispatcherOptions {
  input?: InputSink;
  /** The screen a 'resize' message asks a size of; absent: resizes are ignored. */
  display?: Pick<DisplaySource, 'requestSize'>;
  /** The guest's clipboard, which 'clipboard' messages set; absent: they are ignored. */
  clipboard?: Pick<ClipboardSource, 'setText'>;
  /** Why something was dropped (rate-limit it if the client is untrusted). */
  warn?: (line: string) => void;
  /** Keys and characters that had nothing to press on the guest. */
  debug?: (line: string) => void;
  /** Milliseconds a size must stay before it is asked of the guest (default 150). */
  resizeDebounceMs?: number;
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
const clampAbs = (v: number, m: number): number => Math.max(-m, Math.min(m, v));

export class InputDispatcher {
  private readonly keys = new KeyTranslator();
  private textChain: Promise<void> = Promise.resolve();
  private textWaiting = 0;
  private buttons = 0;
  private lastPointer = { x: 0, y: 0 };
  private touching = false;
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly clip = new ClipboardAssembler();

  constructor(private readonly o: InputDispatcherOptions) {}

  /** Apply one checked message (parseClientMessage's result). */
  apply(m: ClientMessage): void {
    const input = this.o.input;
    switch (m.t) {
      case 'key': {
        const ops = this.keys.event(m.code, m.key, m.down, m.mods);
        if (ops.length === 0 && m.down) this.o.debug?.(`nothing to press for ${m.code}/${m.key}`);
        for (const [code, down] of ops)
          if (input && !input.key(code, down) && down) {
            this.keys.held.delete(code);
            this.o.debug?.(`unknown key code ${code}`);
          }
        return;
      }
      case 'text': {
        if (!input?.text) return;
        if (this.textWaiting + m.text.length > MAX_TEXT_WAITING) {
          this.o.warn?.('dropping pasted text: too much is still being typed');
          return;
        }
        this.textWaiting += m.text.length;
        const typeText = input.text.bind(input);
        this.textChain = this.textChain
          .then(() => typeText(m.text))
          .then(
            (unknown) => {
              if (unknown.length) this.o.debug?.(`${unknown.length} characters have no US key`);
            },
            (e: unknown) => this.o.warn?.(`typing text: ${(e as Error).message}`),
          )
          .finally(() => (this.textWaiting -= m.text.length));
        return;
      }
      case 'clipboard': {
        const r = this.clip.piece(m.text, m.last);
        if (typeof r === 'string') this.o.warn?.(r);
        else if (r) this.o.clipboard?.setText(r.text);
        return;
      }
      case 'pointer':
        this.lastPointer = { x: clamp01(m.x), y: clamp01(m.y) };
        this.buttons = m.buttons;
        input?.pointer(this.lastPointer.x, this.lastPointer.y, m.buttons);
        return;
      case 'wheel':
        input?.wheel(clampAbs(m.dx, 100), clampAbs(m.dy, 100));
        return;
      case 'touch':
        this.touching = m.contacts.length > 0;
        input?.touch(m.contacts.map((c) => ({ id: c.id, x: clamp01(c.x), y: clamp01(c.y) })));
        return;
      case 'resize': {
        const display = this.o.display;
        if (!display) return;
        // Widths a multiple of 8: scanline pitches stay aligned for every driver.
        const w = Math.max(MIN_SIZE.width, Math.min(MAX_SIZE.width, m.width)) & ~7;
        const h = Math.max(MIN_SIZE.height, Math.min(MAX_SIZE.height, m.height));
        if (this.resizeTimer) clearTimeout(this.resizeTimer);
        this.resizeTimer = setTimeout(() => {
          this.resizeTimer = null;
          display.requestSize(w, h);
        }, this.o.resizeDebounceMs ?? 150);
        return;
      }
    }
  }

  /** Resolves when the text sent so far has been typed (or dropped). */
  typed(): Promise<void> {
    return this.textChain;
  }

  /** The client went away: release its keys, buttons and fingers, or they would stay down in the guest. */
  releaseAll(): void {
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    this.resizeTimer = null;
    const input = this.o.input;
    if (!input) return;
    for (const [code, down] of this.keys.releaseAll()) input.key(code, down);
    if (this.buttons) input.pointer(this.lastPointer.x, this.lastPointer.y, 0);
    this.buttons = 0;
    if (this.touching) input.touch([]);
    this.touching = false;
  }
}
