/** How the user-mode stack reaches the host's loopback: a small interface, so the stack stays free of Node. */

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
  send(port: number, data: Uint8Array): void;
  close(): void;
}

export interface HostSockets {
  tcpConnect(port: number, h: HostTcpHandlers): HostTcp;
  udpOpen(onMessage: (fromPort: number, data: Uint8Array) => void): HostUdp;
}
