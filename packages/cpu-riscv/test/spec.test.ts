/**
 * Where QEMU 7.2 departs from the privileged specification, our hart follows the specification: these
 * behaviours are checked on our hart alone (programs/spec.c says what QEMU does instead).
 */
import { describe, expect, it } from 'vitest';
import { CPU_ENGINES } from '../src/index.js';
import { build, runOurs } from './harness.js';

const EXPECTED = [
  // AMO, AMO and SC where no memory is: store/AMO access fault (7)
  'trap 0000000000000007 000000000a000000 0000000000001800',
  'trap 0000000000000007 000000000a000000 0000000000001800',
  'trap 0000000000000007 000000000a000000 0000000000001800',
  // walks through a table outside memory from S: load (5), store (7), fetch (1) access faults
  'trap 0000000000000005 0000000040000000 0000000000000800',
  'trap 0000000000000007 0000000040000000 0000000000000800',
  'trap 0000000000000001 0000000040000000 0000000000000800',
  // the ECALL from S after SRET: MPRV is clear
  'trap 0000000000000009 0000000000000000 0000000000000800',
  'mepc=0000000080001002',
  'sepc=fffffffffffffffe',
  // MSI, MTI, SSI, STI in that order
  'trap 8000000000000003 0000000000000000 0000000000001800',
  'trap 8000000000000007 0000000000000000 0000000000001800',
  'trap 8000000000000001 0000000000000000 0000000000001800',
  'trap 8000000000000005 0000000000000000 0000000000001800',
  '',
];

describe.each(CPU_ENGINES)('the privileged spec where QEMU 7.2 differs (%s)', (engine) => {
  it('spec.c gives the specified transcript', () => {
    const ours = runOurs(build('spec.c'), { engine });
    expect(ours.exit).toBe(0);
    expect(ours.output.split('\n')).toEqual(EXPECTED);
  });
});
