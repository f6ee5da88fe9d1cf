/**
 * Node-only backends: the user-mode network's host side (TCP and UDP with node:net and node:dgram, names
 * with node:dns, port forward listeners) and a pcap writer that records every frame a backend carries. Browser builds never load
 * this file.
 */
import { createSocket } from 'node:dgram';
import { openSync, writeSync, closeSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { connect, createServer, isIPv4, type Socket } from 'node:net';
import { silentLogger, type Logger } from '@virtio-desktop/virtio-core';
import type { NetBackend } from './backend.js';
import {
  UserNet,
  type HostSockets,
  type HostTcp,
  type HostTcpHandlers,
  type UserNetOptions,
} from './usernet/stack.js';

/** A Node socket behind the stack's small interface; every event is handled, errors included. */
function wrap(s: Socket, h: HostTcpHandlers): HostTcp {
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
}

/**
 * Host sockets for the user-mode network with node:net, node:dgram and node:dns. With `nat`, TCP and
 * UDP go to any address the stack asks for and UDP sockets bind every address (replies from anywhere
 * reach the guest: a full-cone NAT, like QEMU's slirp); without it, UDP binds the loopback only.
 */
export function nodeHostSockets(o: { nat: boolean } = { nat: true }): HostSockets {
  return {
    tcpConnect(port, h, host = '127.0.0.1') {
      return wrap(connect({ host, port }), h);
    },
    udpOpen(onMessage) {
      const s = createSocket('udp4');
      let open = true;
      const close = (): void => {
        if (!open) return;
        open = false;
        try {
          s.close();
        } catch {
          // already closed
        }
      };
      s.on('message', (m, rinfo) =>
        onMessage(rinfo.port, new Uint8Array(m.buffer, m.byteOffset, m.length), rinfo.address),
      );
      s.on('error', close);
      s.bind(0, o.nat ? '0.0.0.0' : '127.0.0.1', () => s.unref());
      return {
        send: (port, data, host = '127.0.0.1') => {
          if (open) s.send(data, port, host, () => {}); // a failed send is a lost datagram, as on a wire
        },
        close,
      };
    },
    resolve: async (name) =>
      (await lookup(name, { family: 4, all: true })).map((a) => a.address).filter((a) => isIPv4(a)),
    tcpListen(port, bind, onConnection, onError) {
      // Paused until the guest has answered: nothing is read that the guest could not take yet.
      const server = createServer({ pauseOnConnect: true }, (s) => {
        s.on('error', () => {}); // until the stack's handlers are attached
        onConnection((h) => wrap(s, h));
      });
      server.maxConnections = 256;
      server.on('error', (e) => onError(e.message));
      server.listen(port, bind, () => server.unref());
      return { close: () => void server.close() };
    },
    udpListen(port, bind, onMessage, onError) {
      const s = createSocket('udp4');
      let open = true;
      s.on('message', (m, rinfo) =>
        onMessage(rinfo.port, new Uint8Array(m.buffer, m.byteOffset, m.length), rinfo.address),
      );
      s.on('error', (e) => onError(e.message));
      s.bind(port, bind, () => s.unref());
      return {
        send: (to, data, host = '127.0.0.1') => {
          if (open) s.send(data, to, host, () => {}); // a failed send is a lost datagram
        },
        close: () => {
          if (!open) return;
          open = false;
          try {
            s.close();
          } catch {
            // already closed
          }
        },
      };
    },
  };
}

/** A user-mode network whose gateway is this host (NAT unless `opts.mode` is "host-only"). */
export function createUserNet(log: Logger = silentLogger, opts: UserNetOptions = {}): UserNet {
  return new UserNet(nodeHostSockets({ nat: (opts.mode ?? 'nat') === 'nat' }), log, opts);
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
