/**
 * Time sources, in mtime ticks. The machine chooses: the wall clock for interactive use, or a clock that
 * follows retired instructions so that a run repeats exactly.
 */

export interface TimeSource {
  now(): number;
  /** Deterministic clocks advance with retired instructions; the wall clock ignores this. */
  advance(instructions: number): void;
  /** When every hart is idle, a deterministic clock jumps to `tick`; the wall clock ignores this. */
  skipTo(tick: number): void;
  readonly deterministic: boolean;
}

export const DEFAULT_FREQUENCY = 10_000_000;

/** Ticks from `performance.now()` (Node and browsers), starting at 0 when created. */
export class WallClockTimeSource implements TimeSource {
  readonly deterministic = false;
  private readonly start = performance.now();
  private readonly ticksPerMs: number;

  constructor(frequency = DEFAULT_FREQUENCY) {
    this.ticksPerMs = frequency / 1000;
  }

  now(): number {
    return Math.floor((performance.now() - this.start) * this.ticksPerMs);
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

  skipTo(tick: number): void {
    if (tick > this.ticks && Number.isFinite(tick)) {
      this.ticks = tick;
      this.carry = 0;
    }
  }
}
