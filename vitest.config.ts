import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // After the usual report, what was skipped and the Debian packages that would run it (test/skips.ts).
    reporters: ["default", "./test/skip-report.ts"],
  },
});
