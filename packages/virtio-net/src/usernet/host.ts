/**
 * How the user-mode stack reaches the host: a small interface, so the stack stays free of Node (a browser
 * build supplies another provider, or none of the optional parts).
 */

export interface HostTcpHandlers {
  onConnect(): void;
  onData(b: Uint8Array): void;
  onEnd(): void;
  onError(message: string): void;
  /** The socket's write buffer emptied below its mark ('drain'): the guest's window may open again. */
  onDrain?(): void;
}

export interface HostTcp {
  /**
   * Queue bytes for the host. Returning false (as Node's socket.write does once its buffer is over the
   * mark) means "hold back"; anything else (true, undefined) means there is room.
   */
  write(b: Uint8Array): unknown;
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  /**
   * Bytes written and not yet taken by the host's kernel (Node's socket.writableLength). The stack
   * advertises only what is left of its receive window after these; without it, the stack counts
   * what it wrote since the last false return of write() and the last drain.
   */
  buffered?(): number;
}

export interface HostUdp {
  /** A datagram to `host` (dotted IPv4; the host's loopback when absent) and `port`. */
  send(port: number, data: Uint8Array, host?: string): void;
  close(): void;
}

/** A host listener of a port forward; `close` stops it (the connections it accepted live on). */
export interface HostListener {
  close(): void;
}

export interface HostSockets {
  /** Open a TCP connection to `host` (dotted IPv4; the host's loopback when absent) and `port`. */
  tcpConnect(port: number, h: HostTcpHandlers, host?: string): HostTcp;
  /**
   * A UDP socket; `onMessage` gets every datagram it receives with its source port and address (dotted
   * IPv4; absent means the host's loopback).
   */
  udpOpen(onMessage: (fromPort: number, data: Uint8Array, fromHost?: string) => void): HostUdp;
  /**
   * The host's resolver: IPv4 addresses of `name` (empty: no such name). Without it, the gateway's DNS
   * knows only its own names.
   */
  resolve?(name: string): Promise<string[]>;
  /**
   * Listen on `bind`:`port` for a TCP port forward. Each accepted connection is handed over paused:
   * `accept` attaches the stack's handlers, and the stack resumes the socket once the guest has answered
   * (or destroys it).
   */
  tcpListen?(
    port: number,
    bind: string,
    onConnection: (accept: (h: HostTcpHandlers) => HostTcp) => void,
    onError: (message: string) => void,
  ): HostListener;
  /**
   * A UDP socket bound to `bind`:`port` for a UDP port forward: `onMessage` gets every datagram with its
   * source, and `send` answers a client.
   */
  udpListen?(
    port: number,
    bind: string,
    onMessage: (fromPort: number, data: Uint8Array, fromHost: string) => void,
    onError: (message: string) => void,
  ): HostUdp;
}
