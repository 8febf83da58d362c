// Dev only (never in dist): serves ui/dist with a fake `window.__TAURI__`
// (dev/mock-tauri.js) injected before the app, so the UI runs in a plain
// browser. `node dev/serve.mjs [port]`, then open
// http://127.0.0.1:PORT/?scenario=call&theme=dark (see mock-tauri.js for scenarios).

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");
const dev = join(root, "dev");
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };

export function startServer(port = 0) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    let path = decodeURIComponent(url.pathname);
    const base = path.startsWith("/dev/") ? dev : dist;
    if (path.startsWith("/dev/")) path = path.slice(4);
    if (path === "/") path = "/index.html";
    const file = normalize(join(base, path));
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    try {
      let body = await readFile(file);
      if (file === join(dist, "index.html")) {
        body = Buffer.from(
          body.toString().replace('<script type="module"', '<script src="/dev/mock-tauri.js"></script>\n  <script type="module"'),
        );
      }
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  return new Promise((ok) => server.listen(port, "127.0.0.1", () => ok(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const server = await startServer(Number(process.argv[2] ?? 5173));
  console.log(`http://127.0.0.1:${server.address().port}/?scenario=call&theme=dark`);
}
