/** virtio-blk wire constants (virtio 1.2 §5.2, Linux include/uapi/linux/virtio_blk.h). */

/** Feature bit numbers. */
export const BlkFeature = {
  SizeMax: 1,
  SegMax: 2,
  Geometry: 4,
  Ro: 5,
  BlkSize: 6,
  Flush: 9,
  Topology: 10,
  ConfigWce: 11,
  Mq: 12,
  Discard: 13,
  WriteZeroes: 14,
} as const;

/** Request types. */
export const BlkType = {
  In: 0,
  Out: 1,
  Flush: 4,
  GetId: 8,
  GetLifetime: 10,
  Discard: 11,
  WriteZeroes: 13,
  SecureErase: 14,
} as const;

/** Status byte values. */
export const BlkStatus = { Ok: 0, IoErr: 1, Unsupp: 2 } as const;

/** Byte offsets of struct virtio_blk_config fields. */
export const BlkConfig = {
  Capacity: 0x00,
  SizeMax: 0x08,
  SegMax: 0x0c,
  Geometry: 0x10,
  BlkSize: 0x14,
  Topology: 0x18,
  Writeback: 0x20,
  NumQueues: 0x22,
  MaxDiscardSectors: 0x24,
  MaxDiscardSeg: 0x28,
  DiscardSectorAlignment: 0x2c,
  MaxWriteZeroesSectors: 0x30,
  MaxWriteZeroesSeg: 0x34,
  WriteZeroesMayUnmap: 0x38,
  /** Through write_zeroes_may_unmap and its padding; secure erase and zoned fields are not offered. */
  Size: 0x3c,
} as const;

/** The unit of `sector` and `capacity`, whatever the logical block size. */
export const SECTOR_SIZE = 512;
/** Bytes of a request header (type, reserved/ioprio, sector). */
export const HEADER_SIZE = 16;
/** Bytes of one discard / write-zeroes segment. */
export const DISCARD_SEGMENT_SIZE = 16;
/** Bytes of a GET_ID answer. */
export const ID_BYTES = 20;
/** Flag bit of a write-zeroes segment: the device may deallocate. */
export const WRITE_ZEROES_FLAG_UNMAP = 1;
