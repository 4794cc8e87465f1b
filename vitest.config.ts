import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Hang detectors, not speed limits: tests wait for events, and a loaded 2-core CI box can be several times slower.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most tests wait on sockets, not CPU: two files at a time on a 2-core CI machine halves the wall time.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
