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

/** Ticks from `performance.now()` (Node and browsers), starting at 0 when created. */
export class WallClockTimeSource implements TimeSource {
  readonly deterministic = false;
  private start = performance.now();
  private readonly ticksPerMs: number;

  constructor(frequency = DEFAULT_FREQUENCY) {
    this.ticksPerMs = frequency / 1000;
  }

  now(): number {
    return Math.floor((performance.now() - this.start) * this.ticksPerMs);
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
