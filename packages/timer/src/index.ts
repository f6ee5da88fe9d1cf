export {
  DEFAULT_FREQUENCY,
  InstructionTimeSource,
  MAX_LEAD_MS,
  WallClockTimeSource,
  type TimeSource,
} from './clock.js';
export { MTIME_OFFSET, Mtimer } from './mtimer.js';
export { Clint } from './clint.js';
