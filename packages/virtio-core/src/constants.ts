/** virtio-mmio register offsets (virtio 1.x "Virtio Over MMIO", version 2 layout). */
export const MmioReg = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceId: 0x008,
  VendorId: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptAck: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  ShmSel: 0x0ac,
  ShmLenLow: 0x0b0,
  ShmLenHigh: 0x0b4,
  ShmBaseLow: 0x0b8,
  ShmBaseHigh: 0x0bc,
  QueueReset: 0x0c0,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** "VDSK", little-endian: our vendor id in the VendorID register. */
export const VIRTIO_DESKTOP_VENDOR_ID = 0x4b534456;
/** Size of one virtio-mmio slot. */
export const VIRTIO_MMIO_SLOT_SIZE = 0x1000;

/** Device status bits. */
export const Status = {
  Acknowledge: 1,
  Driver: 2,
  DriverOk: 4,
  FeaturesOk: 8,
  DeviceNeedsReset: 64,
  Failed: 128,
} as const;

/** Transport feature bits (device-independent), as bit numbers. */
export const Feature = {
  IndirectDesc: 28,
  EventIdx: 29,
  Version1: 32,
  AccessPlatform: 33,
  RingPacked: 34,
  RingReset: 40,
} as const;

/** Interrupt status bits. */
export const Interrupt = { UsedBuffer: 1, ConfigChange: 2 } as const;

/** Split-ring descriptor flags. */
export const DescFlag = { Next: 1, Write: 2, Indirect: 4 } as const;

/** Largest queue size the split ring allows. */
export const MAX_QUEUE_SIZE = 32768;

/** Virtio device IDs used in this project. */
export const DeviceId = {
  Net: 1,
  Block: 2,
  Console: 3,
  Entropy: 4,
  Gpu: 16,
  Input: 18,
  /** Provisional, not allocated by OASIS: spec/virtio-power.md §2 (the same as virtio-power's VIRTIO_ID_POWER). */
  Power: 58,
} as const;

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}
