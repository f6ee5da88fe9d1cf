export { DEFAULT_FREQUENCY, InstructionTimeSource, WallClockTimeSource, type TimeSource } from './clock.js';
export { MTIME_OFFSET, Mtimer } from './mtimer.js';
export { Clint } from './clint.js';
