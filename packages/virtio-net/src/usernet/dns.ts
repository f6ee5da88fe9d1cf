/**
 * Names the gateway does not know itself, asked of the host's resolver (NAT mode): bounded in lookups at
 * once and in time, so a guest flooding the DNS cannot tie up the host's resolver threads.
 */
import { GATEWAY } from './services.js';
import { ipNum } from './packets.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Host addresses as the guest sees them: the host's loopback is the gateway (which reaches it). */
export function guestView(addrs: readonly string[]): number[] {
  const out: number[] = [];
  for (const a of addrs) {
    if (!IPV4.test(a)) continue;
    const n = a.startsWith('127.') ? GATEWAY : ipNum(a);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

export class HostResolver {
  /** Lookups not yet settled, timed out or not: the host's resolver is busy with each of them. */
  private pending = 0;
  refused = 0;

  constructor(
    private readonly resolve: (name: string) => Promise<string[]>,
    private readonly maxPending = 32,
    private readonly timeoutMs = 5000,
  ) {}

  /**
   * Addresses of `name` as the guest sees them; null for no such name (or an error), 'busy' when too
   * many lookups are under way or this one took too long (the guest's resolver asks again).
   */
  lookup(name: string): Promise<number[] | null | 'busy'> {
    if (this.pending >= this.maxPending) {
      this.refused++;
      return Promise.resolve('busy');
    }
    this.pending++;
    let p: Promise<string[]>;
    try {
      p = this.resolve(name);
    } catch {
      p = Promise.resolve([]);
    }
    const done = p.then(
      (a) => {
        const v = guestView(a);
        return v.length ? v : null;
      },
      () => null,
    );
    void done.finally(() => this.pending--);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'busy'>((r) => {
      timer = setTimeout(() => r('busy'), this.timeoutMs);
      (timer as { unref?: () => void }).unref?.();
    });
    return Promise.race([done, late]).finally(() => clearTimeout(timer));
  }
}
