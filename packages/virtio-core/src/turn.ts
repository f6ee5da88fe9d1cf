/**
 * Bounded work per event-loop turn. A guest can queue far more work than one turn should do (a full ring
 * of 256 MiB reads, 256 full-screen transfers); devices do a bounded slice, then continue on a later turn
 * so that the viewer, the control socket and the other harts keep running.
 */

type Turn = (fn: () => void) => void;

const immediate = (globalThis as { setImmediate?: Turn }).setImmediate;

/**
 * Run `fn` on a later event-loop turn: after pending I/O callbacks (setImmediate in Node), not in the
 * microtask queue, which would starve everything else exactly like running it now.
 */
export const nextTurn: Turn = immediate ? (fn) => void immediate(fn) : (fn) => void setTimeout(fn, 0);

/** A promise for {@link nextTurn}, for async device code. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => nextTurn(resolve));
}

/** Default slice of one device for one turn. */
export const DEFAULT_TURN_LIMITS = {
  /** Requests (chains) handled per turn. */
  requests: 256,
  /** Bytes moved (copied, read or written) per turn. */
  bytes: 16 << 20,
} as const;

/**
 * Counts the work done in the current event-loop turn. The count returns to zero on the next turn by
 * itself: the first spend of a turn schedules the reset, so an idle device schedules nothing.
 */
export class TurnMeter {
  private requests = 0;
  private bytes = 0;
  private armed = false;

  constructor(
    readonly limits: { readonly requests: number; readonly bytes: number } = DEFAULT_TURN_LIMITS,
    private readonly schedule: Turn = nextTurn,
  ) {}

  /** Record one request of `bytes` bytes (or, with `requests` 0, bytes alone). */
  spend(bytes: number, requests = 1): void {
    this.requests += requests;
    this.bytes += bytes;
    if (!this.armed) {
      this.armed = true;
      this.schedule(() => {
        this.armed = false;
        this.requests = 0;
        this.bytes = 0;
      });
    }
  }

  /** True once this turn's slice is used up: stop and continue on a later turn. */
  get exhausted(): boolean {
    return this.requests >= this.limits.requests || this.bytes >= this.limits.bytes;
  }

  /** Resolves on the first turn with room left (at once when there is room now). */
  async room(): Promise<void> {
    while (this.exhausted) await yieldTurn();
  }
}

/**
 * One continuation per device queue: `run` does a bounded slice and returns true when work is left;
 * the worker then calls it again on a later turn, once, however many notifications arrive meanwhile.
 */
export class TurnWorker {
  private scheduled = false;
  private epoch = 0;

  constructor(
    private readonly run: () => boolean,
    private readonly schedule: Turn = nextTurn,
  ) {}

  /** True while a continuation is waiting for its turn. */
  get pending(): boolean {
    return this.scheduled;
  }

  /** Work arrived: do a slice now unless one is already scheduled (then that one will see it). */
  kick(): void {
    if (this.scheduled) return;
    if (this.run()) this.later();
  }

  /** Forget a scheduled continuation (the device was reset). */
  cancel(): void {
    this.epoch++;
    this.scheduled = false;
  }

  private later(): void {
    this.scheduled = true;
    const epoch = this.epoch;
    this.schedule(() => {
      if (epoch !== this.epoch) return;
      this.scheduled = false;
      if (this.run()) this.later();
    });
  }
}
