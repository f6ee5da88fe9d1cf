/**
 * Time sources, in mtime ticks. The machine chooses: the wall clock for interactive use, or a clock that
 * follows retired instructions so that a run repeats exactly.
 */

import { StateReader, type SavedState } from '@virtio-desktop/virtio-core';

export interface TimeSource {
  now(): number;
  /** Deterministic clocks advance with retired instructions; the wall clock ignores this. */
  advance(instructions: number): void;
  /** When every hart is idle, a deterministic clock jumps to `tick`; the wall clock ignores this. */
  skipTo(tick: number): void;
  readonly deterministic: boolean;
  /** Snapshot: the ticks so far (the instruction clock: and the instructions not yet a tick). */
  saveState?(): SavedState;
  restoreState?(s: SavedState): void;
}

export const DEFAULT_FREQUENCY = 10_000_000;

/**
 * How far the wall clock may run ahead of the host's when the host's clock is coarser than a tick: one
 * step of the coarsest `performance.now()` a cross-origin isolated page or Node has (Chromium's 100 µs
 * without isolation included).
 */
export const MAX_LEAD_MS = 0.1;

/**
 * Ticks from `performance.now()` (Node and browsers), starting at 0 when created.
 *
 * Browsers coarsen `performance.now()` against timing attacks: Chromium to 5 µs in a cross-origin
 * isolated page and 100 µs otherwise (Firefox: 20 µs / 1 ms). Read straight, the guest would see the same
 * time on dozens of consecutive reads, and Linux takes that for a clock without jitter: when a program
 * asks for random bytes before the kernel's generator is seeded, the kernel makes entropy from timer
 * jitter (try_to_generate_entropy), counting how many of 8,192 reads differ to decide how many timer
 * ticks make one bit. With a 5 µs clock that was ~10 ticks a bit instead of 1: about 8 s of a boot in
 * Chromium spent spinning on the entropy pool's lock, where Node (nanosecond clock) took 0.3 s. So a
 * read that finds the host clock unchanged returns one tick more than the last read: the guest's time
 * still never runs backwards and stays within {@link MAX_LEAD_MS} of the host's.
 */
export class WallClockTimeSource implements TimeSource {
  readonly deterministic = false;
  private start = performance.now();
  private readonly ticksPerMs: number;
  private readonly maxLead: number;
  private last = -1;

  constructor(frequency = DEFAULT_FREQUENCY) {
    this.ticksPerMs = frequency / 1000;
    this.maxLead = Math.floor(MAX_LEAD_MS * this.ticksPerMs);
  }

  now(): number {
    const t = Math.floor((performance.now() - this.start) * this.ticksPerMs);
    if (t > this.last) this.last = t;
    else if (this.last < t + this.maxLead) this.last++;
    return this.last;
  }

  saveState(): SavedState {
    return { version: 1, data: { ticks: this.now() } };
  }

  /**
   * Continue from the saved tick count: the guest's time never runs backwards, and the time the snapshot
   * spent on disk does not pass for the guest (its wall clock is behind by that much until it syncs).
   */
  restoreState(s: SavedState): void {
    const ticks = StateReader.of(s, 'wall clock', [1]).int('ticks', 0);
    this.start = performance.now() - ticks / this.ticksPerMs;
    this.last = -1;
  }

  advance(): void {}
  skipTo(): void {}
}

/**
 * Ticks derived from instructions: `instructionsPerTick` retired instructions make one tick. The default (5)
 * makes a 10 MHz timebase look like a 50 MIPS CPU, close to what the emulator delivers, so guest timeouts
 * keep their meaning.
 */
export class InstructionTimeSource implements TimeSource {
  readonly deterministic = true;
  private ticks = 0;
  private carry = 0;

  constructor(private readonly instructionsPerTick = 5) {
    if (!(instructionsPerTick > 0)) throw new RangeError('instructionsPerTick must be positive');
  }

  now(): number {
    return this.ticks;
  }

  advance(instructions: number): void {
    this.carry += instructions;
    if (this.carry >= this.instructionsPerTick) {
      const t = Math.floor(this.carry / this.instructionsPerTick);
      this.ticks += t;
      this.carry -= t * this.instructionsPerTick;
    }
  }

  saveState(): SavedState {
    return { version: 1, data: { ticks: this.ticks, carry: this.carry } };
  }

  restoreState(s: SavedState): void {
    const r = StateReader.of(s, 'instruction clock', [1]);
    const ticks = r.int('ticks', 0);
    const carry = r.num('carry', 0, this.instructionsPerTick);
    this.ticks = ticks;
    this.carry = carry;
  }

  skipTo(tick: number): void {
    if (tick > this.ticks && Number.isFinite(tick)) {
      this.ticks = tick;
      this.carry = 0;
    }
  }
}
