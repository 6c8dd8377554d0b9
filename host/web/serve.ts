/**
 * Serves the page's files (host/web/site.ts) from memory over HTTP: no file system behind a URL, so no path
 * can reach outside the site. Binds 127.0.0.1 unless asked: Web Serial needs a secure context, which
 * http://localhost and http://127.0.0.1 are.
 */
import { createServer, type Server } from "node:http";
import { fail } from "../core/errors.ts";
import type { SiteFile } from "./site.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  wasm: "application/wasm",
  png: "image/png",
  csv: "text/csv; charset=utf-8",
};

export const contentType = (name: string): string => TYPES[name.split(".").pop() ?? ""] ?? "application/octet-stream";

export interface Served {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts serving `files` on host:port (port 0: any free port); resolves once listening. */
export async function serveSite(files: SiteFile[], host: string, port: number): Promise<Served> {
  const byPath = new Map(files.map((f) => [`/${f.name}`, typeof f.data === "string" ? new TextEncoder().encode(f.data) : f.data]));
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const name = path.endsWith("/") ? `${path}index.html` : path;
    const body = byPath.get(name);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { "content-type": contentType(name), "content-length": body.length, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  }).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === "EADDRINUSE" ? "the port is in use; pick another" : e.code === "EACCES" ? "not allowed to listen there; pick a port above 1023" : e.message;
    fail("E_FLAG", `--listen ${host}:${port}: ${why}`);
  });
  const addr = server.address();
  const bound = typeof addr === "object" && addr ? addr.port : port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
