// Builds the canvas as an ES-module library for NiceGUI (see flowclass/ui/canvas.py).
import { fileURLToPath } from "node:url";
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [vue()],
  // Vue Flow and friends check process.env.NODE_ENV, which browsers do not have.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: fileURLToPath(new URL("../flowclass/ui/static/dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2020",
    lib: {
      entry: "src/index.js",
      formats: ["es"],
      fileName: () => "index.js", // NiceGUI's import map points "flowclass-canvas" at index.js
      cssFileName: "flowclass-canvas",
    },
    rolldownOptions: {
      external: ["vue"], // resolved by NiceGUI's import map to the Vue it already ships
      // Vite keeps whitespace in ES libraries for downstream bundlers; this bundle is final.
      output: { minify: true },
    },
  },
});
