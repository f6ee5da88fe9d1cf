import { describe, expect, it } from 'vitest';
import { manifestJsonSchema } from '../src/index.js';

/** The value at a path of keys in parsed JSON. */
const at = (v: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], v);

describe('manifest JSON Schema', () => {
  it('describes every field and folds in each plugin options schema', () => {
    const plugin = {
      name: 'my-dev',
      optionsSchema: { type: 'object', properties: { level: { type: 'integer', description: 'How loud.' } } },
    };
    const s = manifestJsonSchema([{ package: '@acme/dev', device: 'loud', plugin }]);
    for (const key of Object.keys(at(s, 'properties') as object))
      if (key !== '$schema') expect(at(s, 'properties', key, 'description'), key).toBeTruthy();
    const items = at(s, 'properties', 'devices', 'items');
    expect(at(items, 'properties', 'package', 'anyOf', 0)).toEqual({ enum: ['@acme/dev'] });
    expect(at(items, 'allOf')).toEqual([
      {
        if: {
          required: ['package', 'device'],
          properties: { package: { const: '@acme/dev' }, device: { const: 'loud' } },
        },
        then: { properties: { options: { ...plugin.optionsSchema, description: 'Options of my-dev.' } } },
      },
    ]);
    // The machine's own CPU plugin describes its engine option.
    expect(JSON.stringify(at(s, 'properties', 'cpu', 'allOf'))).toContain('"engine"');
  });
});
