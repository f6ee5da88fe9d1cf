/** UDP port forward sessions (src/usernet/udp.ts): one gateway port per host client, expiry, the table bound. */
import { describe, expect, it } from 'vitest';
import type { HostUdp } from '../src/usernet/host.js';
import { UdpForwards } from '../src/usernet/udp.js';

function forwards(max = 4, idleMs = 1000) {
  const toGuest: [number, number, string][] = [];
  let full = 0;
  const f = new UdpForwards(
    max,
    idleMs,
    (gw, guest, d) => toGuest.push([gw, guest, new TextDecoder().decode(d)]),
    () => full++,
  );
  const sent: [number, string | undefined, string][] = [];
  const listener: HostUdp = {
    send: (port, data, host) => void sent.push([port, host, new TextDecoder().decode(data)]),
    close() {},
  };
  const text = (s: string) => new TextEncoder().encode(s);
  return { f, toGuest, sent, listener, text, full: () => full };
}

describe('UDP forward sessions', () => {
  it('a quiet session expires: the guest can no longer answer it, and a new datagram opens another', () => {
    const { f, toGuest, sent, listener, text } = forwards();
    f.fromHost(listener, 5353, 53, '127.0.0.1', 40000, text('q1'), 0);
    const gw = toGuest[0][0];
    f.expire(999);
    expect(f.fromGuest(53, gw, text('r1'), 999)).toBe(true);
    f.expire(1999);
    expect(f.size).toBe(0);
    expect(f.fromGuest(53, gw, text('late'), 2000)).toBe(false);
    expect(sent.map((s) => s[2])).toEqual(['r1']);
    f.fromHost(listener, 5353, 53, '127.0.0.1', 40000, text('q2'), 3000);
    expect(f.size).toBe(1);
  });

  it('a full table forgets the least recently used client', () => {
    const { f, toGuest, listener, text, full } = forwards(2);
    f.fromHost(listener, 1, 7, 'a', 1, text('a'), 0);
    f.fromHost(listener, 1, 7, 'b', 1, text('b'), 1);
    f.fromHost(listener, 1, 7, 'a', 1, text('a again'), 2); // a is now the most recent
    f.fromHost(listener, 1, 7, 'c', 1, text('c'), 3);
    expect(full()).toBe(1);
    expect(f.size).toBe(2);
    const gwOf = (d: string) => toGuest.find((t) => t[2] === d)![0];
    expect(f.fromGuest(7, gwOf('b'), text('to b'), 4)).toBe(false);
    expect(f.fromGuest(7, gwOf('a'), text('to a'), 4)).toBe(true);
    expect(f.fromGuest(7, gwOf('c'), text('to c'), 4)).toBe(true);
  });
});
