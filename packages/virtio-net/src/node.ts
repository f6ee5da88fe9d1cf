/**
 * Node-only backends: the user-mode network's host side (TCP and UDP to 127.0.0.1 with node:net and
 * node:dgram) and a pcap writer that records every frame a backend carries. Browser builds never load
 * this file.
 */
import { createSocket } from 'node:dgram';
import { openSync, writeSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { silentLogger, type Logger } from '@virtio-desktop/virtio-core';
import type { NetBackend } from './backend.js';
import { UserNet, type HostSockets, type UserNetOptions } from './usernet/stack.js';

/** The host's loopback, and nothing else: the guest reaches 127.0.0.1 only. */
export const loopbackSockets: HostSockets = {
  tcpConnect(port, h) {
    const s = connect({ host: '127.0.0.1', port });
    // A guest's open connection must not keep the host process alive once the machine has stopped.
    s.unref();
    s.on('connect', () => h.onConnect());
    s.on('data', (b: Buffer) => h.onData(new Uint8Array(b.buffer, b.byteOffset, b.length)));
    s.on('end', () => h.onEnd());
    s.on('error', (e) => h.onError(e.message));
    s.on('drain', () => h.onDrain?.());
    return {
      write: (b) => s.write(b),
      buffered: () => s.writableLength,
      end: () => void s.end(),
      destroy: () => void s.destroy(),
      pause: () => void s.pause(),
      resume: () => void s.resume(),
    };
  },
  udpOpen(onMessage) {
    const s = createSocket('udp4');
    s.on('message', (m, rinfo) => onMessage(rinfo.port, new Uint8Array(m.buffer, m.byteOffset, m.length)));
    s.on('error', () => s.close());
    s.bind(0, '127.0.0.1', () => s.unref());
    return {
      send: (port, data) => s.send(data, port, '127.0.0.1'),
      close: () => {
        try {
          s.close();
        } catch {
          // already closed after an error
        }
      },
    };
  },
};

/** A user-mode network whose gateway forwards to this host's loopback. */
export function createUserNet(log: Logger = silentLogger, opts: UserNetOptions = {}): UserNet {
  return new UserNet(loopbackSockets, log, opts);
}

/**
 * Wrap a backend so that every frame, both ways, is also written to a pcap file (Ethernet link type),
 * readable with tcpdump -r or Wireshark.
 */
export function withPcap(inner: NetBackend, file: string): NetBackend {
  const fd = openSync(file, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  writeSync(fd, head);
  let open = true;
  const record = (f: Uint8Array) => {
    if (!open) return;
    const t = Date.now();
    const h = Buffer.alloc(16);
    h.writeUInt32LE(Math.floor(t / 1000), 0);
    h.writeUInt32LE((t % 1000) * 1000, 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    writeSync(fd, h);
    writeSync(fd, f);
  };
  return {
    send(frame) {
      record(frame);
      inner.send(frame);
    },
    attach(deliver) {
      inner.attach((f) => {
        record(f);
        deliver(f);
      });
    },
    close() {
      inner.close?.();
      if (open) closeSync(fd);
      open = false;
    },
  };
}
