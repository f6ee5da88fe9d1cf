export { Hart, StopReason, Access, type HartOptions } from './hart.js';
export { expandCompressed, RVC_TABLE } from './rvc.js';
