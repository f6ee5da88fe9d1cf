/**
 * Where a virtio-net device's frames go: one small interface, and the backends that need no host
 * services (a connected pair, a sink). Node-only backends (user-mode network, pcap) are in node.ts.
 */

export interface NetBackend {
  /** A frame from the guest (Ethernet, no virtio header); the backend owns it from now on. */
  send(frame: Uint8Array): void;
  /** The device gives the backend the function that hands frames to the guest. */
  attach(deliver: (frame: Uint8Array) => void): void;
  /** The device was reset (by its driver or with the machine): drop per-guest state such as connections. */
  reset?(): void;
  close?(): void;
}

/** Frames go nowhere; the guest sees a link with nobody on it. */
export class NullBackend implements NetBackend {
  send(): void {}
  attach(): void {}
}

/** One end of a virtual cable. */
export class PairEnd implements NetBackend {
  peer: PairEnd | null = null;
  private deliver: ((frame: Uint8Array) => void) | null = null;

  send(frame: Uint8Array): void {
    const p = this.peer;
    // Later, not inside the sender's queue handling: the two devices never re-enter each other.
    if (p?.deliver) queueMicrotask(() => p.deliver?.(frame));
  }

  attach(deliver: (frame: Uint8Array) => void): void {
    this.deliver = deliver;
  }

  close(): void {
    this.deliver = null;
  }
}

/** Two connected ends: what one sends, the other receives (two machines, or a machine and a test). */
export function createPair(): [PairEnd, PairEnd] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

const pairs = new Map<string, PairEnd>();

/**
 * A named pair within this process: the first device asking for `name` gets one end, the second the
 * other (how two machines of one host are cabled from their manifests: `"backend": "pair:lan0"`).
 */
export function namedPairEnd(name: string): PairEnd {
  const waiting = pairs.get(name);
  if (waiting) {
    pairs.delete(name);
    return waiting;
  }
  const [a, b] = createPair();
  pairs.set(name, b);
  return a;
}
