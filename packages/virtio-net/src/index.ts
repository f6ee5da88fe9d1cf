export * from './protocol.js';
export {
  VirtioNetDevice,
  MAX_RX_PENDING,
  MAX_RX_PENDING_BYTES,
  type NetDeviceOptions,
  type NetStats,
} from './device.js';
export { NullBackend, PairEnd, createPair, namedPairEnd, type NetBackend } from './backend.js';
export {
  UserNet,
  GATEWAY,
  GUEST,
  DNS,
  GATEWAY_MAC,
  MSS,
  RECV_WINDOW,
  type UserNetOptions,
  type UserNetMode,
  type PortForward,
  type HostListener,
  type HostSockets,
  type HostTcp,
  type HostTcpHandlers,
  type HostUdp,
} from './usernet/stack.js';
export { parseForward } from './usernet/conn.js';
export * as packets from './usernet/packets.js';
export { netPlugin, type NetPluginOptions } from './plugin.js';
import { netPlugin } from './plugin.js';
export default netPlugin;
