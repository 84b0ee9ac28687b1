import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by the gateway under /app/ (same origin as the API): no dev server is needed.
export default defineConfig({
  base: "/app/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Fonts must be files, never data: URLs inlined in CSS.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 900,
  },
});
