/**
 * The host end of the clipboard channel (spec/clipboard.md): frames on the console port
 * {@link CLIPBOARD_PORT} to and from the guest agent (guest/desktop/agent), turned into a `text` event
 * when the guest's CLIPBOARD selection changes and {@link ClipboardChannel.setText} to give the guest
 * the host's text.
 */
import { silentLogger, type Logger, type StateReader, type StateValue } from '@virtio-desktop/virtio-core';
import { EventEmitter } from 'eventemitter3';
import type { ConsolePort } from './device.js';
import {
  FrameParser,
  FrameType,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  decodeHello,
  encodeFrame,
  encodeHello,
} from './framing.js';

/** The port name the agent looks for in /sys/class/virtio-ports/vport*\/name. */
export const CLIPBOARD_PORT = 'org.virtio-desktop.clipboard.0';

export interface ClipboardEvents {
  /** The guest's clipboard now holds `text` (someone copied in the guest). */
  text: (text: string) => void;
  /** The agent said HELLO (true), or its port closed (false). */
  agent: (connected: boolean) => void;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

export class ClipboardChannel extends EventEmitter<ClipboardEvents> {
  /** The agent has said HELLO on the open port. */
  agentConnected = false;
  /** The agent's protocol version (0 before HELLO). */
  agentVersion = 0;
  /** The guest's clipboard as last reported, or null. */
  guestText: string | null = null;
  /** The text the host last gave, or null. */
  hostText: string | null = null;
  /** The host's text is newer than anything the guest reported: a (re)connecting agent gets it. */
  private hostNewer = false;
  private readonly parser = new FrameParser(MAX_PAYLOAD);
  private readonly log: Logger;
  private lastWarn = -Infinity;

  constructor(
    readonly port: ConsolePort,
    opts: { log?: Logger } = {},
  ) {
    super();
    this.log = opts.log ?? silentLogger;
    port.on('open', () => this.parser.reset());
    port.on('close', () => {
      this.parser.reset();
      // The agent owned the selections it was given: they went with it.
      this.guestText = null;
      if (!this.agentConnected) return;
      this.agentConnected = false;
      this.emitSafe('agent', false);
    });
    port.on('data', (b) => this.data(b));
  }

  /**
   * Give the guest `text` as its clipboard. Sent at once when the agent is connected, otherwise when it
   * next says HELLO. False when the text is over 1 MiB of UTF-8 (nothing changes).
   */
  setText(text: string): boolean {
    const bytes = utf8.encode(text);
    if (bytes.length > MAX_PAYLOAD) {
      this.warn(`clipboard: ${bytes.length} bytes of text is more than the ${MAX_PAYLOAD} the guest takes`);
      return false;
    }
    this.hostText = text;
    this.hostNewer = true;
    // The guest already holds it (it came from there): sending it back would take the selection away
    // from the program that owns it.
    if (text === this.guestText) return true;
    if (this.agentConnected) this.sendText(text, bytes);
    return true;
  }

  /** Snapshot: the agent's session and both texts, and a frame half received, so a restored guest goes on. */
  saveState(): StateValue {
    return {
      agentConnected: this.agentConnected,
      agentVersion: this.agentVersion,
      guestText: this.guestText,
      hostText: this.hostText,
      hostNewer: this.hostNewer,
      partial: this.parser.partial(),
    };
  }

  restoreState(r: StateReader): void {
    const text = (k: string): string | null => {
      const v = r.raw(k);
      if (v !== null && (typeof v !== 'string' || v.length > MAX_PAYLOAD)) throw r.fail(k, 'is not a text');
      return v;
    };
    const guestText = text('guestText');
    const hostText = text('hostText');
    const partial = r.bytes('partial');
    if (partial.length > MAX_PAYLOAD + 8) throw r.fail('partial', 'is too long');
    this.agentConnected = r.bool('agentConnected') && this.port.guestOpen;
    this.agentVersion = r.int('agentVersion', 0, 0xffffffff);
    this.guestText = guestText;
    this.hostText = hostText;
    this.hostNewer = r.bool('hostNewer');
    this.parser.reset();
    this.parser.push(partial);
  }

  private sendText(text: string, bytes: Uint8Array): void {
    if (!this.port.write(encodeFrame(FrameType.Text, bytes)))
      this.warn('clipboard: the guest is not reading its clipboard port; text dropped');
    else this.guestText = text;
  }

  private data(bytes: Uint8Array): void {
    for (const f of this.parser.push(bytes)) {
      switch (f.type) {
        case FrameType.Hello: {
          const h = decodeHello(f.payload);
          if (!h) break;
          this.agentVersion = h.version;
          this.port.write(encodeHello());
          if (!this.agentConnected) {
            this.agentConnected = true;
            this.log.debug(`clipboard: agent connected (protocol ${h.version}, ours ${PROTOCOL_VERSION})`);
            this.emitSafe('agent', true);
          }
          if (this.hostText !== null && this.hostNewer)
            this.sendText(this.hostText, utf8.encode(this.hostText));
          break;
        }
        case FrameType.Text: {
          if (!this.agentConnected) break;
          const text = fromUtf8.decode(f.payload);
          this.guestText = text;
          this.hostNewer = false;
          this.emitSafe('text', text);
          break;
        }
        default:
          break; // later versions' messages
      }
    }
    const err = this.parser.error;
    if (err) {
      this.warn(`clipboard: closing the port: ${err}`);
      this.port.hangUp(err);
    }
  }

  private emitSafe<E extends keyof ClipboardEvents>(event: E, ...args: Parameters<ClipboardEvents[E]>): void {
    try {
      (this.emit as (e: E, ...a: Parameters<ClipboardEvents[E]>) => boolean)(event, ...args);
    } catch (e) {
      this.log.error(`clipboard: '${event}' listener threw: ${String(e)}`);
    }
  }

  /** At most one line every 10 s: the guest decides how often these happen. */
  private warn(line: string): void {
    const now = Date.now();
    if (now - this.lastWarn < 10_000) return;
    this.lastWarn = now;
    this.log.warn(line);
  }
}
