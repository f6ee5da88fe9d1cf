/**
 * virtio-console (virtio 1.2 §5.3) as far as this device uses it: feature bits, the configuration
 * space, the queue numbering of a multiport device and the control messages.
 */

export const CONSOLE_DEVICE_ID = 3;

/** Feature bit numbers. */
export const ConsoleFeature = {
  Size: 0,
  Multiport: 1,
  EmergWrite: 2,
} as const;

/** struct virtio_console_config: cols, rows (u16), max_nr_ports, emerg_wr (u32). */
export const CONFIG_SIZE = 12;
export const ConfigOffset = { Cols: 0, Rows: 2, MaxNrPorts: 4, EmergWr: 8 } as const;

/**
 * Queues of a multiport device: port 0's receiveq and transmitq, the control receiveq and transmitq,
 * then a receiveq and transmitq per further port.
 */
export const ControlQueue = { Rx: 2, Tx: 3 } as const;
export function portQueues(port: number): { rx: number; tx: number } {
  return port === 0 ? { rx: 0, tx: 1 } : { rx: 2 + 2 * port, tx: 3 + 2 * port };
}
export function queueCount(ports: number): number {
  return 2 + 2 * ports;
}

/** Control events (struct virtio_console_control: le32 id, le16 event, le16 value). */
export const ControlEvent = {
  DeviceReady: 0,
  DeviceAdd: 1,
  DeviceRemove: 2,
  PortReady: 3,
  ConsolePort: 4,
  Resize: 5,
  PortOpen: 6,
  PortName: 7,
} as const;

export const CONTROL_SIZE = 8;

export interface ControlMessage {
  id: number;
  event: number;
  value: number;
}

export function encodeControl(m: ControlMessage, extra?: Uint8Array): Uint8Array {
  const b = new Uint8Array(CONTROL_SIZE + (extra?.length ?? 0));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, m.id >>> 0, true);
  dv.setUint16(4, m.event, true);
  dv.setUint16(6, m.value, true);
  if (extra) b.set(extra, CONTROL_SIZE);
  return b;
}

/** The fixed part of a control message; null when the buffer is too short. Extra bytes are ignored. */
export function decodeControl(b: Uint8Array): ControlMessage | null {
  if (b.length < CONTROL_SIZE) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { id: dv.getUint32(0, true), event: dv.getUint16(4, true), value: dv.getUint16(6, true) };
}

/**
 * A port name the guest sees in /sys/class/virtio-ports/vportNpM/name (and, with udev,
 * /dev/virtio-ports/NAME): printable ASCII without "/" so it is a valid file name.
 */
export const PORT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
