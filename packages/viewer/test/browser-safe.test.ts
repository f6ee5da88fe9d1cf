import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const NODE_BUILTINS =
  /from '(node:[^']+|fs|path|url|os|crypto|zlib|util|worker_threads|child_process|net|http|https|events|stream)'/;

describe('browser entry', () => {
  it('no module of the package imports a Node built-in or reads process', () => {
    for (const f of readdirSync(src).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(path.join(src, f), 'utf8');
      expect(NODE_BUILTINS.test(text), f).toBe(false);
      expect(/\bprocess\./.test(text), f).toBe(false);
      expect(/\brequire\(/.test(text), f).toBe(false);
    }
  });
});
