/**
 * Loading a RISC-V Linux kernel per Documentation/arch/riscv/boot.rst: the Image at RAM base + text_offset,
 * the initramfs and the device tree elsewhere in RAM, each hart entered with a0 = hartid, a1 = DTB, satp = 0.
 *
 * With the host SBI, each hart starts in M-mode on a short trampoline we write into RAM below the kernel:
 * it delegates traps and interrupts to S-mode, opens PMP, and MRETs into the kernel in S-mode — what a
 * firmware would do, without a firmware image. With OpenSBI, the firmware is loaded at RAM base instead
 * and gets a fw_dynamic_info block telling it where the kernel is.
 */
import type { GuestMemory } from '@virtio-desktop/virtio-core';

export class BootError extends Error {
  override readonly name = 'BootError';
}

export interface ImageInfo {
  textOffset: number;
  /** Bytes of memory the kernel occupies once running (>= file size). */
  imageSize: number;
}

/** Parse the 64-byte header of a RISC-V Linux `Image`. */
export function parseImageHeader(image: Uint8Array): ImageInfo {
  if (image.length < 64) throw new BootError('kernel image is too small to be a RISC-V Linux Image');
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const magic2 = dv.getUint32(56, true);
  const magic = new TextDecoder().decode(image.subarray(48, 53));
  if (magic2 !== 0x05435352 && magic !== 'RISCV')
    throw new BootError('kernel is not a RISC-V Linux Image (no RSC\\x05 magic); pass arch/riscv/boot/Image');
  const lo = (o: number): number => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x1_0000_0000;
  const textOffset = lo(8) || 0x200000;
  const imageSize = Math.max(lo(16), image.length);
  return { textOffset, imageSize };
}

export interface BootLayout {
  kernel: number;
  initrd?: { start: number; end: number };
  dtb: number;
  /** Where the per-hart reset trampolines (host SBI) or fw_dynamic_info (OpenSBI) go. */
  scratch: number;
  firmware?: number;
}

const MiB = 1024 * 1024;
/** Bytes at RAM base reserved for the per-hart trampolines of the host SBI (256 bytes a hart). */
export const TRAMPOLINE_REGION = 0x10000;
export const TRAMPOLINE_STRIDE = 256;
const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;

/** Decide where everything goes; throws a {@link BootError} when it does not fit in RAM. */
export function planLayout(
  ram: { base: number; size: number },
  kernel: ImageInfo,
  initrdSize: number,
  withFirmware: boolean,
): BootLayout {
  const end = ram.base + ram.size;
  const kernelAt = ram.base + kernel.textOffset;
  const kernelEnd = kernelAt + kernel.imageSize;
  // The DTB goes in the top 2 MiB (Linux maps it early from anywhere in RAM); the initrd halfway up, far
  // enough above the kernel that early allocations do not reach it, as QEMU does.
  const dtb = alignDown(end - 64 * 1024, 4096);
  let initrd: BootLayout['initrd'];
  if (initrdSize > 0) {
    let start = alignUp(Math.max(kernelEnd + 16 * MiB, ram.base + Math.min(ram.size / 2, 512 * MiB)), 4096);
    if (start + initrdSize > dtb - MiB) start = alignUp(kernelEnd + MiB, 4096);
    if (start + initrdSize > dtb - 4096)
      throw new BootError(
        `initrd (${Math.ceil(initrdSize / MiB)} MiB) does not fit in RAM; give the machine more memory`,
      );
    initrd = { start, end: start + initrdSize };
  }
  if (kernelEnd > (initrd?.start ?? dtb))
    throw new BootError('kernel does not fit in RAM; give the machine more memory');
  // Host SBI: the trampolines live at RAM base in a region the device tree reserves (secondary harts are
  // started through them long after Linux owns the rest of RAM). OpenSBI: fw_dynamic_info is read once at
  // start, just below the DTB.
  if (kernel.textOffset < TRAMPOLINE_REGION)
    throw new BootError('kernel text_offset leaves no room for the boot trampolines');
  const scratch = withFirmware ? dtb - 4096 : ram.base;
  return { kernel: kernelAt, initrd, dtb, scratch, firmware: withFirmware ? ram.base : undefined };
}

// --- A tiny RISC-V encoder for the trampoline ------------------------------------------------------------

const T0 = 5;
const T6 = 31;
const iType = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const auipc = (rd: number, imm20: number): number => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17) >>> 0;
const ld = (rd: number, rs1: number, off: number): number => iType(off, rs1, 3, rd, 0x03);
const addi = (rd: number, rs1: number, imm: number): number => iType(imm, rs1, 0, rd, 0x13);
const csrw = (csr: number, rs1: number): number => iType(csr, rs1, 1, 0, 0x73);
const MRET = 0x30200073;
const WFI = 0x10500073;
const jalBack4 = 0xffdff06f; // jal x0, -4

const Csr = {
  mstatus: 0x300,
  medeleg: 0x302,
  mideleg: 0x303,
  mcounteren: 0x306,
  scounteren: 0x106,
  menvcfg: 0x30a,
  mepc: 0x341,
  mtvec: 0x305,
  pmpcfg0: 0x3a0,
  pmpaddr0: 0x3b0,
} as const;

/** Exceptions handed to S-mode: misaligned/access faults, illegal instruction, breakpoint, U ecall, page faults. */
export const MEDELEG = 0xb1ff;
/** Supervisor software, timer and external interrupts. */
export const MIDELEG = 0x222;

/**
 * The code a hart runs from reset when the host provides SBI: set delegation, PMP (all of memory, RWX),
 * counters, then MRET into `entry` in S-mode. a0/a1 (hartid, DTB) are left as the host set them.
 * Returns the words to write; 144 bytes.
 */
export function trampoline(entry: number, opts: { sstc?: boolean } = {}): Uint32Array {
  const DATA = 96; // data area offset from the start
  const code = [
    auipc(T6, 0),
    addi(T0, T6, 21 * 4), // mtvec first: a CSR the CPU lacks then parks the hart instead of jumping to 0
    csrw(Csr.mtvec, T0),
    ld(T0, T6, DATA + 0),
    csrw(Csr.medeleg, T0),
    ld(T0, T6, DATA + 8),
    csrw(Csr.mideleg, T0),
    ld(T0, T6, DATA + 16),
    csrw(Csr.mstatus, T0),
    ld(T0, T6, DATA + 24),
    csrw(Csr.pmpaddr0, T0),
    addi(T0, 0, 0x1f), // NAPOT, R W X
    csrw(Csr.pmpcfg0, T0),
    addi(T0, 0, 7), // cycle, time, instret readable in S
    csrw(Csr.mcounteren, T0),
    // ...and in U: Linux's vDSO reads `time` directly, and only its PMU driver (not in every kernel) would
    // open scounteren. Firmware (OpenSBI) opens the same three, so the kernel sees what it would there.
    csrw(Csr.scounteren, T0),
    ld(T0, T6, DATA + 32),
    csrw(Csr.menvcfg, T0),
    ld(T0, T6, DATA + 40),
    csrw(Csr.mepc, T0),
    MRET,
    WFI, // park loop: an M-mode trap means a firmware-level fault; stay here
    jalBack4,
  ];
  const words = new Uint32Array(DATA / 4 + 12);
  words.set(code);
  const dv = new DataView(words.buffer);
  const put64 = (off: number, v: bigint): void => dv.setBigUint64(DATA + off, v, true);
  put64(0, BigInt(MEDELEG));
  put64(8, BigInt(MIDELEG));
  put64(16, 1n << 11n); // MPP = S; MPIE = 0; FS = off (Linux turns it on)
  put64(24, (1n << 54n) - 1n); // NAPOT covering the whole physical address space
  put64(32, opts.sstc ? 1n << 63n : 0n); // menvcfg.STCE
  put64(40, BigInt(entry));
  return words;
}

/** struct fw_dynamic_info for OpenSBI's fw_dynamic (version 2). */
export function fwDynamicInfo(nextAddr: number, bootHart: number): Uint8Array {
  const out = new Uint8Array(48);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, 0x4942534fn, true); // "OSBI"
  dv.setBigUint64(8, 2n, true);
  dv.setBigUint64(16, BigInt(nextAddr), true);
  dv.setBigUint64(24, 1n, true); // next mode: S
  dv.setBigUint64(32, 0n, true);
  dv.setBigUint64(40, BigInt(bootHart), true);
  return out;
}

/** Copy `bytes` into RAM at `addr`, or fail with a message naming `what`. */
export function load(mem: GuestMemory, addr: number, bytes: Uint8Array, what: string): void {
  if (!mem.write(addr, bytes)) throw new BootError(`${what} does not fit in RAM at 0x${addr.toString(16)}`);
}
