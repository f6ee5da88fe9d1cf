/**
 * The common bus-device interface of virtio-desktop.
 *
 * Every model that sits on the system bus — virtio transports, interrupt controllers, timers, UARTs — is a
 * {@link BusDevice}. A host (our machine, or any other emulator) owns the address decoding: it maps each
 * device at a base address and forwards accesses with the offset inside the device's region. Nothing here
 * depends on Node: these types run unchanged in a browser.
 *
 * Conventions, chosen for speed in JavaScript engines:
 * - Offsets and guest-physical addresses are plain numbers (guest RAM lives below 2^53).
 * - Values of 1, 2 and 4-byte accesses are unsigned 32-bit numbers (`>>> 0`).
 * - A 64-bit access reaches a device through `read64`/`write64` when it implements them; otherwise the host
 *   splits it into two 4-byte accesses, low word first, as a 32-bit CPU would do.
 */

/** Width in bytes of a single register access. */
export type AccessWidth = 1 | 2 | 4;

/** A model that answers loads and stores in a region of the physical address space. */
export interface BusDevice {
  /** A short name for logs and the device tree, e.g. "virtio-mmio" or "plic". */
  readonly name: string;
  /** Size in bytes of the region the device decodes. */
  readonly size: number;
  /**
   * Load `width` bytes at `offset` (0 <= offset < size). Unmapped registers read as 0. Must not throw for
   * any offset or width: the caller may be an untrusted guest.
   */
  read(offset: number, width: AccessWidth): number;
  /** Store the low `width` bytes of `value` at `offset`. Writes to read-only or unknown registers are ignored. */
  write(offset: number, width: AccessWidth, value: number): void;
  /** Optional 64-bit access, for registers that must not tear (e.g. a 64-bit timer compare). */
  read64?(offset: number): bigint;
  write64?(offset: number, value: bigint): void;
  /** Return to the power-on state. */
  reset(): void;
  /** Describe the device for a flattened device tree, given where the host placed it. */
  describe?(placement: Placement): DtNode;
  /**
   * Snapshots (optional): the device's state as plain data, with a version of the device's own choosing
   * that {@link restoreState} understands. The host calls it with the machine paused, between two
   * instructions. A device without it makes the host refuse the snapshot with a line naming it.
   */
  saveState?(): SavedState;
  /**
   * Put back a state {@link saveState} returned, on a device created with the same options and not yet
   * running. Throws a {@link SnapshotError} (one line) for a version or shape it does not know.
   */
  restoreState?(state: SavedState): void | Promise<void>;
}

/**
 * What a part's saved state is made of: JSON values (finite numbers, plus Infinity, -Infinity and NaN,
 * which the snapshot encoder keeps) and byte arrays, which stay binary (RAM pages, disk blocks, pixels).
 */
export type StateValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly StateValue[]
  | { readonly [key: string]: StateValue };

/** A part's saved state: the version of its layout and the data. */
export interface SavedState {
  readonly version: number;
  readonly data: StateValue;
}

/** A snapshot cannot be taken or restored; the message is one line that says why. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** Where the host put a device: its base address and the interrupt lines it wired to it. */
export interface Placement {
  readonly base: number;
  /** Interrupt numbers at the interrupt controller named by `interruptParent`, in the device's order. */
  readonly irqs: readonly number[];
  /** Device-tree phandle of the interrupt controller the irqs refer to (0 when none). */
  readonly interruptParent: number;
}

/** A level-triggered interrupt line from a device to an interrupt controller. */
export interface InterruptLine {
  /** Drive the line: `true` asserts it, `false` releases it. Repeating the same level is harmless. */
  set(level: boolean): void;
}

/** An interrupt line that goes nowhere, for devices used without an interrupt controller. */
export const unconnectedLine: InterruptLine = { set() {} };

/**
 * Guest RAM as a device sees it: every access is bounds-checked, so a device can pass guest-controlled
 * addresses straight in. Accesses outside RAM return `false`/`null`, never throw and never touch host
 * memory beyond the guest's.
 */
export interface GuestMemory {
  /** Guest-physical address of the first byte of RAM. */
  readonly base: number;
  /** RAM size in bytes. */
  readonly size: number;
  /** True when [addr, addr + length) lies entirely inside RAM (length may be 0). */
  contains(addr: number, length: number): boolean;
  /**
   * A zero-copy view of [addr, addr + length), or null when any byte is outside RAM. The view aliases guest
   * memory: the guest may change it at any time, so copy what must stay stable.
   */
  view(addr: number, length: number): Uint8Array | null;
  /** Copy `dest.length` bytes from guest memory; false (dest untouched) when out of range. */
  read(addr: number, dest: Uint8Array): boolean;
  /** Copy `src` into guest memory; false (nothing written) when out of range. */
  write(addr: number, src: Uint8Array): boolean;
  /** Little-endian scalar loads; return -1 when out of range (valid values are non-negative). */
  readU16(addr: number): number;
  readU32(addr: number): number;
  /** Loads a 64-bit value as a number; -1 when out of range or when the value exceeds 2^53. */
  readU64(addr: number): number;
  /** Little-endian scalar stores; false when out of range. */
  writeU16(addr: number, value: number): boolean;
  writeU32(addr: number, value: number): boolean;
}

/** A value of a device-tree property. Numbers are 32-bit cells; arrays of numbers are cell lists. */
export type DtValue = number | readonly number[] | string | readonly string[] | Uint8Array | true;

/** A device-tree node, in the shape the machine turns into a flattened device tree. */
export interface DtNode {
  /** Node name without unit address, e.g. "virtio_mmio". */
  readonly name: string;
  /** Unit address (the base), printed in hex after "@"; omitted when undefined. */
  readonly unitAddress?: number;
  readonly props: Readonly<Record<string, DtValue>>;
  readonly children?: readonly DtNode[];
  /** Set when other nodes refer to this one (e.g. an interrupt controller). */
  readonly phandle?: number;
}

/** Splits a 64-bit address or size into the two cells of a `#address-cells = <2>` bus. */
export function cells64(value: number): [number, number] {
  return [Math.floor(value / 0x1_0000_0000) >>> 0, value >>> 0];
}

/** Minimal leveled logger that devices take instead of writing to the console themselves. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A logger that drops everything, the default for devices used standalone. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The physical address space as a CPU sees it outside RAM: the host decodes the address and forwards to
 * the device mapped there. Unmapped addresses are reported, not thrown, so the CPU can raise an access
 * fault with the right cause.
 */
export interface PhysicalBus {
  /** Load; returns -1 when nothing is mapped at [addr, addr + width). */
  read(addr: number, width: AccessWidth): number;
  /** Store; returns false when nothing is mapped at [addr, addr + width). */
  write(addr: number, width: AccessWidth, value: number): boolean;
}
