/**
 * The clipboard between a page and the guest (spec/clipboard.md for the guest side): the machine end is
 * a {@link ClipboardSource} (the virtio-console clipboard channel, found by the host), the page end a
 * {@link PageClipboard} that writes the browser's clipboard when the guest copies and sends the browser's
 * clipboard to the guest on paste and when the page gets the focus. Browsers allow both only to a page
 * that has the focus and, for reading, the user's permission; what they refuse is skipped quietly.
 */
import { CLIPBOARD_PIECE, MAX_CLIPBOARD, type ClientMessage } from './protocol.js';

/** The guest's clipboard as the viewer sees it. */
export interface ClipboardSource {
  /** Give the guest this text as its clipboard. */
  setText(text: string): void;
  /** Subscribe to the guest's clipboard changes; returns a function that unsubscribes. */
  onText(cb: (text: string) => void): () => void;
}

/**
 * Reassembles the pieces of 'clipboard' client messages, bounded: a client that sends more than
 * {@link MAX_CLIPBOARD} characters before `last` gets its text dropped (and a reason back).
 */
export class ClipboardAssembler {
  private parts: string[] = [];
  private length = 0;
  private overflow = false;

  /** One piece; returns the whole text on the last one, a string reason when it was dropped, else null. */
  piece(text: string, last: boolean): { text: string } | string | null {
    if (!this.overflow) {
      this.length += text.length;
      if (this.length > MAX_CLIPBOARD) {
        this.overflow = true;
        this.parts = [];
      } else this.parts.push(text);
    }
    if (!last) return null;
    const overflow = this.overflow;
    const whole = this.parts.join('');
    this.parts = [];
    this.length = 0;
    this.overflow = false;
    return overflow ? `clipboard text over ${MAX_CLIPBOARD} characters dropped` : { text: whole };
  }
}

/** A page's clipboard text as 'clipboard' client messages. */
export function clipboardMessages(text: string): ClientMessage[] {
  const out: ClientMessage[] = [];
  for (let i = 0; i < text.length || i === 0; i += CLIPBOARD_PIECE)
    out.push({
      t: 'clipboard',
      text: text.slice(i, i + CLIPBOARD_PIECE),
      last: i + CLIPBOARD_PIECE >= text.length,
    });
  return out;
}

export interface PageClipboardOptions {
  send(m: ClientMessage): void;
  /** Where paste events are listened for (default: the document). */
  pasteTarget?: EventTarget;
  /** Read the browser's clipboard when the window gets the focus (default true; needs permission). */
  readOnFocus?: boolean;
}

/** The page end: the browser's clipboard kept in step with the guest's. */
export class PageClipboard {
  /** The guest's clipboard as last received (also when the browser refused to take it). */
  guestText: string | null = null;
  /** The guest's clipboard as far as the page knows: what it last received or gave. */
  private known: string | null = null;
  /** Called with each text the guest copies (embedders, tests). */
  onGuestText: ((text: string) => void) | null = null;
  private readonly cleanup: (() => void)[] = [];

  constructor(private readonly o: PageClipboardOptions) {
    const on = (t: EventTarget, type: string, f: (e: Event) => void): void => {
      t.addEventListener(type, f);
      this.cleanup.push(() => t.removeEventListener(type, f));
    };
    on(o.pasteTarget ?? document, 'paste', (e) => {
      const text = (e as ClipboardEvent).clipboardData?.getData('text/plain');
      if (text) this.give(text);
    });
    if (o.readOnFocus ?? true) on(globalThis, 'focus', () => void this.syncFromPage());
  }

  /** The guest copied `text`: put it in the browser's clipboard. */
  async receive(text: string): Promise<void> {
    this.guestText = text;
    this.known = text;
    try {
      this.onGuestText?.(text);
    } catch (e) {
      console.error('viewer clipboard:', e);
    }
    try {
      await navigator.clipboard?.writeText(text);
    } catch {
      // No focus or no permission: the text stays in guestText (and the embedder's callback).
    }
  }

  /** Send the browser's clipboard to the guest, if the browser lets the page read it. */
  async syncFromPage(): Promise<void> {
    let text: string | undefined;
    try {
      text = await navigator.clipboard?.readText();
    } catch {
      return;
    }
    if (text) this.give(text);
  }

  /** Give the guest `text` as its clipboard, unless it already has it. */
  give(text: string): void {
    const t = text.replace(/\r\n?/g, '\n');
    if (t === this.known || t.length > MAX_CLIPBOARD) return;
    this.known = t;
    for (const m of clipboardMessages(t)) this.o.send(m);
  }

  dispose(): void {
    for (const f of this.cleanup.splice(0)) f();
  }
}
