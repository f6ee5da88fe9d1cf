import type { GuestMemory, Logger, SavedState } from './bus.js';
import type { Virtqueue } from './virtqueue.js';

/**
 * What a virtio device model implements. The transport (virtio-mmio here, virtio-pci elsewhere) owns the
 * registers, the feature handshake and the rings; the device owns only its configuration space and what
 * it does with the buffers in its queues. This keeps queue handling apart from device logic.
 */
export interface VirtioDevice {
  /** Virtio device ID (e.g. 2 for block). */
  readonly deviceId: number;
  /** Device-specific feature bits offered (bits 0-23 and 50+); the transport adds its own. */
  readonly features: bigint;
  /** Maximum size of each virtqueue, in queue order; the length is the number of queues. */
  readonly queueSizes: readonly number[];
  /** Size in bytes of the device-specific configuration space. */
  readonly configSize: number;
  /** Read config space; offset + width <= configSize is guaranteed by the transport. */
  readConfig(offset: number, width: 1 | 2 | 4): number;
  /** Write config space; offset + width <= configSize is guaranteed by the transport. */
  writeConfig(offset: number, width: 1 | 2 | 4, value: number): void;
  /**
   * The driver set DRIVER_OK: the queues are live. The context stays valid until {@link reset}; a device
   * that finishes work asynchronously after a reset finds its old queues inert (pushes are ignored).
   */
  activate(ctx: VirtioDeviceContext): void;
  /** The driver notified queue `index`: there are new available buffers. */
  queueNotify(index: number): void;
  /** The driver reset the device (status 0): drop all state tied to the queues. */
  reset(): void;
  /**
   * Requests handed to an asynchronous backend and not completed yet (optional; absent means none). A
   * host whose guest time follows retired instructions waits for these in real time before letting
   * idle guest time jump ahead, so the guest never sees its own I/O take forever.
   */
  readonly requestsInFlight?: number;
  /**
   * Snapshots (optional; a device without them makes the host refuse a snapshot with a line naming it).
   * Called with the guest paused, before {@link saveState}: finish host-side work (requests on a backend)
   * and compute what is slow (a disk image's content hash). No guest-visible change may follow it.
   */
  prepareSnapshot?(): Promise<void>;
  /**
   * The device's own state (the transport saves the registers and queue positions). Chains a device holds
   * (popped, not yet used) are saved by head index and found again with {@link Virtqueue.chainAt}.
   */
  saveState?(): SavedState;
  /**
   * Put a saved state back on a freshly created device. `ctx` is the context of the restored queues when
   * the driver had set DRIVER_OK (then it replaces `activate`: the device adopts it without side
   * effects), null otherwise. Throws a one-line SnapshotError for a state it cannot take.
   */
  restoreState?(state: SavedState, ctx: VirtioDeviceContext | null): void | Promise<void>;
}

/** What a device gets from its transport when it is activated. */
export interface VirtioDeviceContext {
  readonly queues: readonly Virtqueue[];
  /** Features both sides agreed on. */
  readonly negotiated: bigint;
  readonly memory: GuestMemory;
  readonly log: Logger;
  /** Tell the driver the device configuration changed (bumps ConfigGeneration, raises the interrupt). */
  configChanged(): void;
  /** Ask the driver to reset the device after an unrecoverable error (sets DEVICE_NEEDS_RESET). */
  needsReset(reason: string): void;
}
