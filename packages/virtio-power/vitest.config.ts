import { defineConfig } from 'vitest/config';

// The Linux driver build needs a built guest kernel and a cross compiler: it runs only from
// `pnpm test:driver` (VDESK_DRIVER=1), never in the default test run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.VDESK_DRIVER ? [] : ['test/linux-driver.test.ts'],
    testTimeout: process.env.VDESK_DRIVER ? 600_000 : 5_000,
  },
});
