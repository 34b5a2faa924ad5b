// Runs tests with the real Kubernetes test environment (test/global-setup.ts) even before
// the root vitest.config.ts lists that global setup:
//   npx vitest run -c test/testenv/vitest.config.ts test/testenv
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.config.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export default mergeConfig(
  base,
  defineConfig({
    root,
    test: { globalSetup: [fileURLToPath(new URL("../global-setup.ts", import.meta.url))] },
  }),
);
