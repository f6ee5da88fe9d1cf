/** The user-mode stack's options (and their parser), constants and per-connection TCP state. */
import type { HostTcp } from './host.js';

/** The MSS we announce; guest segments carrying more are dropped (the guest agreed to it). */
export const MSS = 1460;
/** Guest bytes the host socket may hold unsent per connection: the most window the guest is offered. */
export const RECV_WINDOW = 65535;
/** Host bytes buffered per connection before we stop reading the host socket. */
export const SEND_BUFFER = 256 * 1024;
/** Retransmission timeout. The link is a memory queue that loses nothing unless the guest's queue
 * overflows; a slow guest must not be mistaken for a lossy one, so this errs long. */
export const RTO_MS = 2000;

/**
 * A port forward: connections (tcp) or datagrams (udp) to the host's `bind`:`hostPort` reach the guest's
 * `guestPort`, from the gateway.
 */
export interface PortForward {
  proto: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
  /** Host address to listen on (default 127.0.0.1: this computer only). */
  bind?: string;
}

/**
 * "nat": TCP and UDP to any address the host can reach, DNS through the host's resolver (like QEMU's
 * slirp). "host-only": only the gateway (the host's loopback) and the gateway's own names.
 */
export type UserNetMode = 'nat' | 'host-only';

/** Per-guest bounds and the network's shape; every field has a default. */
export interface UserNetOptions {
  /** Default "nat". */
  mode?: UserNetMode;
  /** Port forwards into the guest (default none); they need a provider with `tcpListen`/`udpListen`. */
  forwards?: readonly PortForward[];
  /** Host DNS lookups under way at once (default 32); further queries are dropped until one ends. */
  maxLookups?: number;
  /** TCP connections open at once (default 256); further SYNs get RST. */
  maxTcp?: number;
  /** UDP flows (guest source ports) at once (default 256); a new one closes the least recently used. */
  maxUdp?: number;
  /** A connection whose handshake has not completed after this long is dropped (default 15 s). */
  halfOpenMs?: number;
  /** An established connection with no traffic either way for this long is reset (default 1 hour). */
  tcpIdleMs?: number;
  /** A UDP flow with no datagram either way for this long is closed (default 60 s). */
  udpIdleMs?: number;
  /** Retransmissions of the same data before the connection is reset (default 8, about 16 s). */
  maxRetransmits?: number;
}

export interface Conn {
  key: string;
  gport: number;
  /** The far end as the guest sees it: its address and port. */
  remote: number;
  hport: number;
  /** Where the host socket goes, for log lines. */
  label: string;
  /** connecting: a guest's SYN waits for the host; syn-sent: a forwarded connection waits for the guest. */
  state: 'connecting' | 'syn-sent' | 'established';
  /** Next byte we expect from the guest. */
  rcvNxt: number;
  /** Our initial sequence number (the SYN's), and whether the guest has acknowledged the SYN. */
  isn: number;
  synAcked: boolean;
  /** Sequence number of sendBuf's first byte (everything before it is acknowledged), and of the next
   * segment to send. */
  base: number;
  sndNxt: number;
  /** Sequence number of our FIN once sent, and whether the guest acknowledged it. */
  finSeq: number;
  finAcked: boolean;
  /** Host bytes not yet acknowledged by the guest. */
  sendBuf: Uint8Array[];
  sendBytes: number;
  window: number;
  mss: number;
  hostEnded: boolean;
  finSent: boolean;
  guestFin: boolean;
  paused: boolean;
  lastSend: number;
  /** Bytes past base ever sent: after going back to resend, ACKs up to here are still valid. */
  sentAhead: number;
  sock: HostTcp | null;
  opened: number;
  lastActivity: number;
  /** Timeouts since the guest last acknowledged new data. */
  retries: number;
  /** Guest bytes written to a host socket that cannot report its buffer (see HostTcp.buffered). */
  hostQueued: number;
  /** The window in the last segment we sent. */
  advertised: number;
}

/** `n` bytes of the unacknowledged host data from `offset`, as one segment's payload. */
export function sliceSendBuf(c: Conn, offset: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const b of c.sendBuf) {
    if (offset >= b.length) {
      offset -= b.length;
      continue;
    }
    const take = Math.min(b.length - offset, n - at);
    out.set(b.subarray(offset, offset + take), at);
    at += take;
    offset = 0;
    if (at === n) break;
  }
  return out;
}

/**
 * "tcp:HOSTPORT:GUESTPORT", "udp:HOSTPORT:GUESTPORT", or either with an ADDR before HOSTPORT (an IPv4
 * address to listen on, default 127.0.0.1). Returns the forward or why the text is not one.
 */
export function parseForward(spec: string): PortForward | string {
  const m = /^(tcp|udp):(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})$/.exec(spec);
  if (!m)
    return `"${spec.slice(0, 40)}": a forward looks like tcp:8080:80 or udp:5353:53 (or tcp:0.0.0.0:8080:80)`;
  const hostPort = Number(m[3]);
  const guestPort = Number(m[4]);
  if (hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535)
    return `"${spec.slice(0, 40)}": ports go from 1 to 65535`;
  if (m[2] && m[2].split('.').some((b) => Number(b) > 255)) return `"${spec.slice(0, 40)}": bad address`;
  return { proto: m[1] as 'tcp' | 'udp', hostPort, guestPort, ...(m[2] ? { bind: m[2] } : {}) };
}
