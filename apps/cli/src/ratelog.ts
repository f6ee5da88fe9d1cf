import type { Logger } from '@virtio-desktop/virtio-core';

/**
 * Warnings about clients, at most `burst` lines per window: a client that provokes refusals in a loop
 * must not flood the terminal or the logs. The next line after a quiet window says how many were left out.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly burst = 5,
    private readonly windowMs = 10_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  warn(message: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0)
        this.log.warn(`(${this.suppressed} similar lines left out in the last ${this.windowMs / 1000} s)`);
      this.windowStart = t;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines < this.burst) {
      this.lines++;
      this.log.warn(message);
    } else this.suppressed++;
  }

  /** Lines left out so far in this window. */
  get leftOut(): number {
    return this.suppressed;
  }
}
