import type { Logger } from '@virtio-desktop/virtio-core';
import { CliError } from './errors.js';

const LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** A logger to stderr that prints messages at or above `level`. */
export function makeLogger(level: string): Logger {
  const n = LEVELS.indexOf(level as (typeof LEVELS)[number]);
  if (n < 0) throw new CliError(`--log-level must be one of ${LEVELS.join(', ')}`, 2);
  const at =
    (i: number, tag: string) =>
    (m: string): void => {
      if (i <= n) process.stderr.write(`[${tag}] ${m}\n`);
    };
  return { error: at(0, 'error'), warn: at(1, 'warn'), info: at(2, 'info'), debug: at(3, 'debug') };
}
