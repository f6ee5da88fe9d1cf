import { defineConfig } from 'vitest/config';

// Integration tests exercise built packages (dist/) and real guests; they run after `pnpm build`.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
