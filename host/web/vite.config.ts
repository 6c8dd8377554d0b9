/**
 * Bundles the page (host/web/page/) once into build/web/: `npm install` runs it (npm run web:bundle), so
 * `slimedge web` serves static files and needs no dev server. The page imports the library's own modules
 * (tokenizers, sampler, generation loop, reactor driver, flashing session); the only Node module on their
 * path, host/core/files.ts (the tokenizer readers' file opener), is replaced by host/web/page/no-files.ts,
 * which the page never calls.
 */
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("./page"),
  base: "./",
  logLevel: "warn",
  build: {
    outDir: here("../../build/web"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  plugins: [
    {
      name: "slimedge-no-node-files",
      enforce: "pre",
      async resolveId(source, importer) {
        if (importer && /host\/core\/[^/]+\.ts$/.test(importer) && source === "./files.ts") return here("./page/no-files.ts");
        return null;
      },
    },
  ],
});
