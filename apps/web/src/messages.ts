/**
 * What the page and the machine's worker say to each other (structured clone over postMessage). Screen
 * updates are the viewer protocol's own bytes (@virtio-desktop/viewer), so the canvas client that draws
 * `vdesk`'s viewer draws these too.
 */
import type { ClientMessage } from '@virtio-desktop/viewer';

/** Where the machine's files are. Relative URLs resolve against the page. */
export interface MachineUrls {
  /** RISC-V Linux Image. */
  kernel: string;
  initrd?: string;
  /** Disk images by the name a virtio-blk entry of the manifest gives as `image`, read lazily by range. */
  disks?: Record<string, string>;
}

export interface StartRequest {
  type: 'start';
  /** A manifest (the same JSON `vdesk run` takes); its disks' `image` names are keys of urls.disks. */
  manifest: unknown;
  urls: MachineUrls;
  /** Prefix of this machine's OPFS files (the overlay and the disk cache); null: keep nothing. */
  storage: string | null;
  /** A console line whose appearance means "usable" (default: the desktop image's VDESK-DESKTOP-READY). */
  readyMarker: string;
  /** Each hart on its own worker (needs a cross-origin isolated page); otherwise all on this one. */
  threads: boolean;
  /** A snapshot (saveState) to continue instead of booting. */
  restore?: Uint8Array;
}

export type ToWorker =
  | StartRequest
  | { type: 'input'; message: ClientMessage }
  | { type: 'console'; text: string }
  | { type: 'power' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'call'; id: number; op: 'screenshot' | 'keys' | 'type' | 'reset' | 'save'; args: string[] };

export type Phase = 'kernel' | 'initrd' | 'disk';

export type FromWorker =
  | { type: 'screen'; bytes: Uint8Array }
  | { type: 'console'; text: string }
  /** The guest's clipboard changed (virtio-console's clipboard port, spec/clipboard.md). */
  | { type: 'clipboard'; text: string }
  | { type: 'progress'; phase: Phase; loaded: number; total: number | null }
  | { type: 'running' }
  | { type: 'ready'; ms: number; bytesFetched: number }
  | { type: 'warn'; message: string }
  | { type: 'error'; message: string }
  | { type: 'exit'; kind: 'poweroff' | 'stopped'; code: number; reason: string }
  | {
      type: 'result';
      id: number;
      error?: string;
      value?: CallValue;
    };

/** What a call answers: a screenshot (RGBA), a count (keys pressed, characters typed), a snapshot or nothing. */
export type CallValue = { width: number; height: number; rgba: Uint8Array } | Uint8Array | number | null;
