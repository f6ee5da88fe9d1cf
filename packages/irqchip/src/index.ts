export { Plic, type HartInterruptSink, type PlicOptions } from './plic.js';
export { Mswi, Sswi } from './mswi.js';
