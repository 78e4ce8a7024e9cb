import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The web app lives in web/ and imports the shared protocol code from
// ../../protocol; Vite bundles it (zod included) like any other source.
export default defineConfig({
  root: here("./web"),
  base: "/",
  plugins: [svelte()],
  build: {
    outDir: here("./web/dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 400,
  },
  server: {
    fs: { allow: [here(".")] },
  },
});
