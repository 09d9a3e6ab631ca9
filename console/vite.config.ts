import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Served by the api function under /console/ (shared/api/console.py): hashed files under assets/
// (cached for good), index.html revalidated. Nothing inline: the CSP allows scripts and styles from
// 'self' only, so no asset is inlined as a data: URL either.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  // `npx vite` (development only): the API calls go to the local stack's api function
  server: {
    proxy: { "/v1": process.env.LEDGERLINE_API_URL ?? "http://127.0.0.1:8086" },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
  },
});
