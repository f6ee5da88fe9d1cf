/**
 * The main thread's end of the hart workers' mailboxes: it answers MMIO and SBI requests as they come,
 * woken by Atomics.waitAsync (no polling, and the main thread's event loop keeps running devices, timers
 * and I/O meanwhile). No Node built-ins: the same code serves a browser page.
 */
import {
  D,
  HartControl,
  Mb,
  Op,
  POST_ENTRIES,
  POST_ENTRY_WORDS,
  POST_RING,
  sharedRegisterMap,
  sharedStoreValue,
  W,
  type SharedRegister,
} from './control.js';

export interface MailboxHandler {
  /** An MMIO load by hart `h`; -1 when nothing is mapped (the hart raises an access fault). */
  read(h: number, addr: number, width: 1 | 2 | 4): number;
  /** An MMIO store by hart `h`; false when nothing is mapped. */
  write(h: number, addr: number, width: 1 | 2 | 4, value: number): boolean;
  /**
   * An SBI call by hart `h`: `regs` holds a0..a7 as (lo, hi) int32 pairs; write a0 and a1 back into
   * its first four words. The hart waits until the promise (if any) settles.
   */
  sbi(h: number, regs: Int32Array): void | Promise<void>;
}

type WaitAsync = (
  a: Int32Array,
  i: number,
  v: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

export class MailboxHost {
  private stopped = false;
  /** Round trips answered, for statistics (SBI calls among them). */
  requests = 0;
  sbiRequests = 0;
  /** Posted stores done. */
  posted = 0;

  private regs = new Map<number, SharedRegister>();
  private cells: Int32Array<ArrayBufferLike> = new Int32Array(0);

  constructor(
    private readonly controls: readonly HartControl[],
    private readonly handler: MailboxHandler,
  ) {
    if (!waitAsync) throw new Error('threads need Atomics.waitAsync (Node 16+, Chrome 87+)');
  }

  /** The device registers the workers keep in `cells` (control.ts SharedRegister); before start(). */
  share(registers: readonly SharedRegister[], cells: SharedArrayBuffer): void {
    this.cells = new Int32Array(cells);
    this.regs = sharedRegisterMap(registers, this.cells.length);
  }

  start(): void {
    this.stopped = false;
    for (let h = 0; h < this.controls.length; h++) {
      this.arm(h);
      this.armPosted(h);
    }
  }

  /** Stop answering (the workers are being ended). */
  stop(): void {
    this.stopped = true;
  }

  private arm(h: number): void {
    const i32 = this.controls[h].i32;
    for (;;) {
      if (this.stopped) return;
      const v = Atomics.load(i32, W.MB_STATE);
      if (v === Mb.REQUEST) {
        if (this.handle(h)) continue;
        return; // an SBI call still running: it re-arms when done
      }
      const w = waitAsync!(i32, W.MB_STATE, v);
      if (w.async) {
        void w.value.then(() => this.arm(h));
        return;
      }
    }
  }

  /** Do every hart's posted stores now (the harts held for a snapshot: their effects belong in it). */
  drainAll(): void {
    for (let h = 0; h < this.controls.length; h++) this.drain(h);
  }

  /** Drain hart h's posted stores whenever the worker posts into an empty ring. */
  private armPosted(h: number): void {
    const i32 = this.controls[h].i32;
    for (;;) {
      if (this.stopped) return;
      this.drain(h);
      const w = waitAsync!(i32, W.POST_HEAD, Atomics.load(i32, W.POST_TAIL));
      if (w.async) {
        void w.value.then(() => this.armPosted(h));
        return;
      }
    }
  }

  /** Do hart h's posted stores, in order. */
  private drain(h: number): void {
    const i32 = this.controls[h].i32;
    let tail = Atomics.load(i32, W.POST_TAIL);
    const head = Atomics.load(i32, W.POST_HEAD);
    if (tail === head) return;
    // A worker can only have written POST_ENTRIES ahead; anything else is a corrupt record.
    if (((head - tail) | 0) < 0 || ((head - tail) | 0) > POST_ENTRIES) tail = (head - POST_ENTRIES) | 0;
    for (; tail !== head; tail = (tail + 1) | 0) {
      const e = POST_RING + (tail & (POST_ENTRIES - 1)) * POST_ENTRY_WORDS;
      this.posted++;
      const addr = i32[e] >>> 0;
      const r = this.regs.size ? this.regs.get(addr) : undefined;
      const value =
        r !== undefined && !r.readOnly && i32[e + 1] === (r.width ?? 4)
          ? sharedStoreValue(r, this.cells)
          : i32[e + 2] >>> 0;
      this.handler.write(h, addr, i32[e + 1] as 1 | 2 | 4, value);
    }
    Atomics.store(i32, W.POST_TAIL, tail);
    Atomics.notify(i32, W.POST_TAIL);
  }

  /** Answer hart h's request; false when the answer comes later (it re-arms then). */
  private handle(h: number): boolean {
    const c = this.controls[h];
    const i32 = c.i32;
    this.requests++;
    // The hart's stores posted before this request come first (program order).
    this.drain(h);
    const op = i32[W.MB_OP];
    if (op === Op.SBI) {
      this.sbiRequests++;
      let r: void | Promise<void>;
      try {
        r = this.handler.sbi(h, i32.subarray(W.SBI_REGS, W.SBI_REGS + 16));
      } catch {
        r = undefined;
      }
      if (r) {
        void r.then(
          () => this.reply(h, 1, true),
          () => this.reply(h, 1, true),
        );
        return false;
      }
      this.reply(h, 1, false);
      return true;
    }
    const addr = c.f64[D.MB_ADDR];
    const width = i32[W.MB_WIDTH] as 1 | 2 | 4;
    let ok: boolean;
    if (op === Op.READ) {
      const v = this.handler.read(h, addr, width);
      ok = v >= 0;
      i32[W.MB_VALUE] = v | 0;
    } else ok = this.handler.write(h, addr, width, i32[W.MB_VALUE] >>> 0);
    this.reply(h, ok ? 1 : 0, false);
    return true;
  }

  private reply(h: number, result: number, rearm: boolean): void {
    const c = this.controls[h];
    c.i32[W.MB_RESULT] = result;
    Atomics.store(c.i32, W.MB_STATE, Mb.REPLY);
    Atomics.notify(c.i32, W.MB_STATE);
    // An SBI caller waits on its doorbell (it does remote fences meanwhile).
    c.ring();
    if (rearm) this.arm(h);
  }
}
