/**
 * Property-based fuzzing (fast-check) of the two parsers that take a client's bytes: the viewer's
 * client-message parser and the control socket's request parser. Whatever arrives (random text, random
 * bytes decoded as UTF-8, arbitrary JSON values, deep nesting, prototype keys, long strings), each returns
 * a request or its one-line reason string: it never throws (a throw would leave the socket's data handler
 * and end `vdesk run`), never takes long, and the host RSS stays under 1 GiB. VDESK_LONG=1 runs 100x more
 * cases with a random seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_LINE, parseRequest } from '../src/control/protocol.js';
import { parseClientMessage } from '../src/viewer/protocol.js';

const LONG = process.env.VDESK_LONG === '1';
const TIMEOUT = LONG ? 900_000 : 60_000;
const RUNS = LONG ? 30_000 : 300;
const SEED = LONG ? undefined : 15;
/** One parse, even of a 1 MiB line, is a few ms; a backtracking regex or a walk that loops is far more. */
const SLOW_MS = 250;

/** Each command or message type and the fields it reads. */
const CONTROL: Record<string, readonly string[]> = {
  status: [],
  screenshot: [],
  shutdown: [],
  reboot: [],
  key: ['keys'],
  type: ['text', 'intervalMs'],
  move: ['x', 'y'],
  click: ['x', 'y', 'button'],
  scroll: ['dx', 'dy'],
  touch: ['frames', 'intervalMs'],
  resize: ['width', 'height'],
  unplug: ['device'],
  hotplug: ['device'],
};
const VIEWER: Record<string, readonly string[]> = {
  key: ['code', 'down'],
  pointer: ['x', 'y', 'buttons'],
  wheel: ['dx', 'dy'],
  touch: ['contacts'],
  resize: ['width', 'height'],
  clipboard: ['text', 'last'],
};
const EVIL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** Numbers a parser may mishandle: edges of its ranges, non-integers, huge and tiny magnitudes. */
const edgy = fc.oneof(
  fc.integer({ min: -2, max: 16386 }),
  fc.constantFrom(0, -0, 31, 32, 0xffff, 0x10000, 2 ** 31, 2 ** 31 + 1, 2 ** 53, 1e308, -1e308, 5e-324),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, with prototype keys and the numbers above mixed in. */
const jsonValue = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.boolean(), fc.constant(null), edgy, fc.string({ maxLength: 40 })),
    fc.array(tie('v'), { maxLength: 6 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...EVIL_KEYS)), tie('v'), {
      maxKeys: 6,
    }),
  ),
}));

/** Touch contacts that pass every per-contact check, in numbers around the limits (10 a frame). */
const contact = fc.record({ id: fc.integer({ min: 0, max: 0xffff }), x: edgy, y: edgy });
// fast-check's arrays are short by default; the limit (10) is what needs reaching.
const contacts = fc.oneof(
  fc.array(contact, { maxLength: 4 }),
  fc.array(contact, { minLength: 9, maxLength: 12, size: 'max' }),
);
const frames = fc.array(contacts, { minLength: 1, maxLength: 3 });

const NUMERIC = new Set(['x', 'y', 'dx', 'dy', 'width', 'height', 'buttons', 'intervalMs']);

/** A value for field `f`: lists of contacts where contacts or frames go, numbers where numbers go. */
const fieldValue = (f: string) =>
  f === 'contacts' || f === 'frames'
    ? fc.oneof({ weight: 3, arbitrary: f === 'frames' ? frames : contacts }, jsonValue.v)
    : f === 'device'
      ? fc.oneof(
          jsonValue.v,
          fc.string({ maxLength: 70 }),
          fc.record({
            package: fc.oneof(
              fc.constantFrom(
                '../evil',
                '/etc/x',
                'file:x',
                'http://x/y',
                '@a/../b',
                '@virtio-desktop/virtio-blk',
              ),
              fc.string({ maxLength: 30 }),
            ),
            options: jsonValue.v,
          }),
        )
      : NUMERIC.has(f)
        ? fc.oneof({ weight: 2, arbitrary: fc.integer({ min: -2, max: 1002 }) }, edgy, jsonValue.v)
        : jsonValue.v;

/**
 * An object shaped like a request: the right type name (mostly) and the fields that type reads, each from
 * fieldValue, so the per-command checks are reached and their limits tested; prototype keys mixed in.
 */
const shaped = (typeKey: string, types: Record<string, readonly string[]>) =>
  fc
    .constantFrom(...Object.keys(types))
    .chain((t) =>
      fc.record({
        type: fc.oneof({ weight: 6, arbitrary: fc.constant<unknown>(t) }, jsonValue.v),
        known: fc.record(Object.fromEntries(types[t].map((f) => [f, fieldValue(f)])), {
          requiredKeys: [],
        }),
        evil: fc.dictionary(fc.constantFrom(...EVIL_KEYS), jsonValue.v, { maxKeys: 2 }),
      }),
    )
    .map(({ type, known, evil }) => JSON.stringify({ id: 1, ...evil, ...known, [typeKey]: type }));

/** Deep nesting, a long string or a long array: what a greedy client sends to find a limit. */
const monster = fc.oneof(
  fc.integer({ min: 1, max: 400_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  fc.integer({ min: 1, max: 200_000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
  fc.integer({ min: 0, max: MAX_LINE + 8 }).map((n) => JSON.stringify('x'.repeat(n))),
  fc.integer({ min: 0, max: 100_000 }).map((n) => `[${'1,'.repeat(n)}1]`),
);

/** A text with at most 1 MiB of junk, in any of the forms above, as a field or the whole message. */
const text = (typeKey: string, types: Record<string, readonly string[]>) => {
  const names = Object.keys(types);
  const fields = [...new Set(Object.values(types).flat())];
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
    jsonValue.v.map((v) => JSON.stringify(v)),
    { weight: 6, arbitrary: shaped(typeKey, types) },
    fc
      .tuple(fc.constantFrom(...names), fc.constantFrom(...fields, typeKey), monster)
      .map(([t, f, m]) => `{"id":1,"${typeKey}":"${t}","${f}":${m}}`),
    fc.tuple(fc.constantFrom(typeKey, 'id'), monster).map(([k, m]) => `{"id":1,"${k}":${m}}`),
    monster,
  );
};

/** A rejected message comes back as one short line (it is logged and sent back to the client). */
function checkReason(r: string): void {
  expect(r.length).toBeGreaterThan(0);
  expect(r.length).toBeLessThan(200);
  expect(r).not.toMatch(/[\r\n]/);
}

function timed<T>(f: () => T): T {
  const t0 = performance.now();
  const r = f();
  expect(performance.now() - t0).toBeLessThan(SLOW_MS);
  return r;
}

describe('client-message fuzzing', () => {
  it(
    `viewer: parseClientMessage never throws and answers a message or a short reason (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(text('t', VIEWER), (s) => {
          const r = timed(() => parseClientMessage(s));
          if (typeof r === 'string') return checkReason(r);
          expect(s.length).toBeLessThanOrEqual(4096);
          expect(Object.keys(VIEWER)).toContain(r.t);
          // What the server acts on is numbers in range, never something the client smuggled in.
          if (r.t === 'pointer') expect(Number.isInteger(r.buttons) && r.buttons <= 31).toBe(true);
          if (r.t === 'touch') expect(r.contacts.length).toBeLessThanOrEqual(10);
          if (r.t === 'key') expect(typeof r.code).toBe('string');
        }),
        { numRuns: RUNS, seed: SEED },
      );
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );

  it(
    `control: parseRequest never throws and answers a request or a short reason (${RUNS} cases)`,
    () => {
      fc.assert(
        fc.property(
          text('cmd', CONTROL),
          fc.oneof({ weight: 4, arbitrary: fc.constant<unknown>(1) }, edgy, jsonValue.v),
          (s, id) => {
            // Half the lines carry a valid or random id, so the command checks are reached.
            const line = s.startsWith('{"id":1,') ? s.replace('1', JSON.stringify(id) ?? '1') : s;
            const r = timed(() => parseRequest(line));
            if (typeof r === 'string') return checkReason(r);
            expect(line.length).toBeLessThanOrEqual(MAX_LINE);
            expect(Object.keys(CONTROL)).toContain(r.cmd);
            expect(Number.isInteger(r.id) && r.id >= 0).toBe(true);
            if (r.cmd === 'touch') {
              expect(r.frames.length).toBeLessThanOrEqual(1000);
              for (const f of r.frames) expect(f.length).toBeLessThanOrEqual(10);
            }
            if (r.cmd === 'hotplug') expect(r.device.package).toMatch(/^(@[a-z0-9][\w.~-]*\/)?[a-z0-9]/);
            if (r.cmd === 'click')
              expect(Object.hasOwn({ left: 1, right: 1, middle: 1, side: 1, extra: 1 }, r.button)).toBe(true);
          },
        ),
        { numRuns: RUNS, seed: SEED },
      );
      expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
    },
    TIMEOUT,
  );

  it('regression: a request whose command is 500,000 nested arrays is refused, not thrown', () => {
    const d = 500_000;
    const r = parseRequest(`{"id":1,"cmd":${'['.repeat(d)}${']'.repeat(d)}}`);
    expect(r).toBe('unknown command an array');
    const v = parseClientMessage(`{"t":${'['.repeat(2000)}${']'.repeat(2000)}}`);
    expect(v).toBe('unknown message type an object');
  });
});
