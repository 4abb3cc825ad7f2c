// Two entry points, one build: the patient portal at the root and the workforce dashboard under
// dashboard/. Asset URLs are relative, so the same files serve under any tenant's path locally and
// from the tenant's CloudFront distribution.
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

const root = resolve(import.meta.dirname);

export default defineConfig({
  root,
  base: "./",
  build: {
    outDir: resolve(root, "dist"),
    // Which files each page loads up front (the bench sums them; dynamic imports load later).
    manifest: true,
    // The Chime SDK ships CommonJS only, so its chunk (loaded only in an AWS call) cannot shrink.
    chunkSizeWarningLimit: 1400,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // No inline scripts or styles: the CSP has no 'unsafe-inline'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        portal: resolve(root, "index.html"),
        dashboard: resolve(root, "dashboard/index.html"),
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
