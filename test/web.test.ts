// `slimedge web` in a real browser: Debian's headless Chromium driven by playwright-core (no browser is ever
// downloaded). The pages are what `slimedge web --export` writes for the shipped model, built for an ESP32-S3
// (scalar build) and a Raspberry Pi 5 (SIMD build), served as static folders; one more is served by the CLI
// itself from an artifact folder. Flashing goes through a navigator.serial port injected into the page and
// bridged to the ESP32-S3 ROM emulator the flash tests use; the console through the same kind of port to the
// build's standalone command under node:wasi (the program the firmware runs). Screenshots of every screen go
// to build/screenshots/ (SLIMEDGE_SCREENSHOTS to put them elsewhere).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { EspRomEmulator, SlipDecoder, slipEncode, CMD } from "./fixtures/esp-rom-emulator.ts";
import { contentType } from "../host/web/serve.ts";
import type { SiteData } from "../host/web/site-data.ts";
import { skipNote } from "./skips.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const MODEL = join(root, "models", "slimedge-tiny-v2", "model.bin");
const why = !existsSync(CHROMIUM) ? "chromium not found (apt-get install chromium)" : !existsSync(MODEL) ? `no shipped model at ${MODEL}` : null;
const note = skipNote(why);
const SHOTS = process.env.SLIMEDGE_SCREENSHOTS ?? join(root, "build", "screenshots");
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const STEPS = 48;

/** `slimedge …` as a user runs it; resolves with its output, rejects with its stderr on a non-zero exit. */
function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, "bin", "slimedge.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += String(d)));
    p.stderr.on("data", (d) => (stderr += String(d)));
    p.on("exit", (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`slimedge ${args.join(" ")} exited ${code}: ${stderr}`))));
  });
}

/** A static server for an exported folder: any web host does this much. */
async function serveFolder(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = join(dir, path === "/" ? "index.html" : path);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": contentType(file) }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/`, server };
}

/** What the fake port does with the bytes the page writes: answer them, or cut the connection. */
type SerialPeer = (bytes: Uint8Array) => Promise<{ bytes: number[]; cut?: boolean }>;

/** navigator.serial for the page: one port whose writes go to window.__serialWrite (bridged to a SerialPeer in the test). */
const FAKE_SERIAL = `
(() => {
  const lost = () => new DOMException("The device has been lost.", "NetworkError");
  class FakePort {
    constructor() { this.readable = null; this.writable = null; this.gone = false; }
    getInfo() { return { usbVendorId: 0x10c4, usbProductId: 0xea60 }; }
    async open(o) {
      if (this.readable) throw new DOMException("The port is already open.", "InvalidStateError");
      if (this.gone) throw lost();
      let ctrl;
      this.readable = new ReadableStream({ start: (c) => { ctrl = c; } });
      this.writable = new WritableStream({
        write: async (chunk) => {
          if (this.gone) throw lost();
          const r = await window.__serialWrite(Array.from(chunk));
          if (r.cut) { this.gone = true; try { ctrl.error(lost()); } catch {} throw lost(); }
          if (r.bytes.length) try { ctrl.enqueue(new Uint8Array(r.bytes)); } catch {}
        },
      });
      this.baudRate = o.baudRate;
    }
    async close() {
      if (!this.readable) throw new DOMException("The port is already closed.", "InvalidStateError");
      this.readable = null; this.writable = null;
    }
    async setSignals() { if (this.gone) throw lost(); }
    async setBaudRate(b) { this.baudRate = b; }
  }
  const port = new FakePort();
  Object.defineProperty(navigator, "serial", { value: { requestPort: async () => port, getPorts: async () => [port] } });
})();
`;

/** The ESP32-S3 ROM emulator behind the port; `cutAt`: the FLASH_DATA packet at which the cable is pulled. */
function romPeer(rom: EspRomEmulator, cutAt?: number): SerialPeer {
  const slip = new SlipDecoder();
  let flashData = 0;
  return async (bytes) => {
    const out: number[] = [];
    for (const packet of slip.push(bytes)) {
      if (packet[0] === 0 && packet[1] === CMD.FLASH_DATA && ++flashData === cutAt) return { bytes: [], cut: true };
      for (const r of rom.handle(packet)) out.push(...slipEncode(r));
    }
    return { bytes: out };
  };
}

/** The board's console: each line runs the standalone command under node:wasi with the line's arguments, as the firmware does. */
function commandPeer(commandWasm: string): SerialPeer {
  let line = "";
  return async (bytes) => {
    line += new TextDecoder().decode(bytes);
    if (!line.includes("\n")) return { bytes: [] };
    const args = [...line.trim().matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
    line = "";
    const r = spawnSync(process.execPath, ["--no-warnings", join(root, "host", "ship", "deploy", "run-wasi.mjs"), commandWasm, ...args], { encoding: "utf8" });
    return { bytes: [...new TextEncoder().encode(`${r.stdout}${r.stderr}> `)] };
  };
}

describe("slimedge web in headless Chromium", () => {
  let work: string;
  let browser: BrowserContext | Browser;
  let page: Page;
  let s3: { dir: string; url: string; server: Server; site: SiteData };
  let pi: { dir: string; url: string; server: Server; site: SiteData };
  let peer: SerialPeer = async () => ({ bytes: [] });

  beforeAll(async () => {
    if (why) return;
    work = mkdtempSync(join(tmpdir(), "slimedge-web-test-"));
    mkdirSync(SHOTS, { recursive: true });
    const exported = async (board: string) => {
      const dir = join(work, board);
      await cli(["web", MODEL, "--board", board, "--export", dir]);
      const served = await serveFolder(dir);
      return { dir, ...served, site: JSON.parse(readFileSync(join(dir, "site.json"), "utf8")) as SiteData };
    };
    [s3, pi] = await Promise.all([exported("esp32-s3"), exported("rpi-5")]);
    const { chromium } = await import("playwright-core");
    browser = await chromium.launchPersistentContext(join(work, "profile"), { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
    page = await browser.newPage();
    await page.addInitScript(FAKE_SERIAL);
    await page.exposeFunction("__serialWrite", (bytes: number[]) => peer(Uint8Array.from(bytes)));
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    s3?.server.close();
    pi?.server.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const open = async (url: string, screen = "plan") => {
    await page.goto("about:blank"); // a fresh page each time, not a hash change on the last one
    await page.goto(`${url}#${screen}`);
    await page.waitForSelector("body[data-ready=yes]");
  };
  const text = (selector: string) => page.locator(selector).innerText();
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `web-${name}.png`), fullPage: true });

  it.skipIf(why)(`shows the plan of esp32-s3 and esp32-p4 with the numbers slimedge plan prints${note}`, async () => {
    await open(s3.url);
    for (const board of ["esp32-s3", "esp32-p4"]) {
      const { stdout } = await cli(["plan", MODEL, "--board", board]);
      const lines = stdout.trimEnd().split("\n");
      await page.selectOption("#board", board);
      expect(await text("#board-line")).toBe(lines[1]);
      // the CLI's table: a header, a rule, then one row per weight × cache precision, columns two spaces apart
      const at = lines.findIndex((l) => /^-+( +-+)+$/.test(l));
      const header = lines[at - 1].trim().split(/ {2,}/);
      const rows = lines.slice(at + 1).filter((l) => /^(f32|f16|q8_0|q4_0) /.test(l)).map((l) => l.trim().split(/ {2,}/));
      const cells = await page.$$eval("#fit-table tr", (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? "")));
      expect(cells[0]).toEqual(header);
      expect(cells.slice(1).map((r) => r.filter((c) => c !== ""))).toEqual(rows);
      expect(rows.length).toBe(12);
      const notes = lines.filter((l) => l.startsWith("note: "));
      expect(await page.$$eval("#fit-notes p", (ps) => ps.map((p) => p.textContent))).toEqual(notes);
      // the memory map of the largest slim context that fits, drawn, and the budgets counting everything
      const fit = rows.find((r) => r[0] === "f32" && r[1] === "f32")!;
      const ctx = Number(fit[fit.length - 3].replace(" (all)", ""));
      expect(await text("#map h3")).toContain(`ctx ${ctx}`);
      expect(await page.$eval("#map-img", (img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(100);
      const { stdout: mapped } = await cli(["plan", MODEL, "--board", board, "--ctx", String(ctx)]);
      expect(await text("#budget-fit")).toBe(mapped.trimEnd().split("\n").find((l) => l.startsWith(`fits ${board}`)));
      await shot(`plan-${board}`);
    }
  }, 600_000);

  for (const build of ["scalar", "simd"] as const) {
    it.skipIf(why)(`generates the greedy text of slimedge run with the ${build} reactor the build wrote${note}`, async () => {
      const site = build === "scalar" ? s3 : pi;
      expect(site.site.artifact.build).toBe(build);
      await open(site.url, "try");
      await page.fill("#prompt", "Once upon a time");
      await page.fill("#steps", String(STEPS));
      await page.fill("#temp", "0");
      await page.click("#generate");
      await page.waitForSelector("body[data-generating=done]", { timeout: 300_000 });
      expect(await text("#try-status")).toBe("");
      const ctx = site.site.artifact.ctx;
      // the build's plan prefills token by token (planArena's default block), so the CLI is asked for the same
      const { stdout, stderr } = await cli(["run", MODEL, "--simd", build === "simd" ? "on" : "off", "--ctx", String(ctx), "--temp", "0", "-n", String(STEPS), "--prefill-block", "1"]);
      const pageText = await page.$eval("#out", (e) => e.textContent ?? "");
      expect(pageText).toBe(stdout.replace(/\n$/, ""));
      expect(pageText.length).toBeGreaterThan(40);
      const summary = await text("#summary");
      const cliSummary = stderr.trimEnd().split("\n").at(-1)!;
      // the same counts, context memory and stop as the CLI's line; only the speeds differ
      const shape = (s: string) => s.replace(/at [0-9.]+ tok\/s/g, "at … tok/s").replace(/ · arena [^·]+/, "");
      expect(summary).toMatch(/^prefill \d+ tok at [0-9.]+ tok\/s · decode \d+ tok at [0-9.]+ tok\/s · context memory /);
      expect(shape(summary)).toBe(shape(cliSummary));
      expect(summary).toContain(`· ${build}, f32 weights, f32 cache rows`);
      await shot(`try-${build}`);
    }, 600_000);
  }

  it.skipIf(why)(`flashes through Web Serial into the ESP32 ROM emulator: the images of flash --out byte for byte, MD5-verified${note}`, async () => {
    const rom = new EspRomEmulator();
    peer = romPeer(rom);
    const out = join(work, "flash-out");
    await cli(["flash", join(s3.dir, "model"), "--out", out]);
    await open(s3.url, "flash");
    await page.click("#flash");
    await page.waitForSelector("body[data-flashing=done]", { timeout: 300_000 });
    const status = await text("#flash-status");
    expect(status).toBe("flashed ESP32-S3: 3 images written and MD5-verified; reset through RTS");
    expect(await page.$eval("#flash-progress", (b) => [(b as HTMLProgressElement).value, (b as HTMLProgressElement).max])).toEqual([expect.any(Number), expect.any(Number)]);
    const [value, max] = await page.$eval("#flash-progress", (b) => [(b as HTMLProgressElement).value, (b as HTMLProgressElement).max]);
    expect(value).toBe(max);
    const args = readFileSync(join(out, "flash_args"), "utf8").trim().split("\n").slice(1).map((l) => l.split(" "));
    expect(args.map(([, f]) => f)).toEqual(["partition-table.bin", "model.bin", "artifact.bin"]);
    for (const [k, [offset, file]] of args.entries()) {
      const image = readFileSync(join(out, file));
      const at = Number(offset);
      expect(Buffer.from(rom.flash.subarray(at, at + image.length)).equals(image), file).toBe(true);
      const gapEnd = k + 1 < args.length ? Number(args[k + 1][0]) : at + image.length + 0x10000;
      expect(rom.flash.subarray(at + image.length, gapEnd).every((b) => b === 0xff), `${file}: nothing written after it`).toBe(true);
    }
    expect(rom.commandLog().filter((c) => c === "SPI_FLASH_MD5")).toHaveLength(3);
    // the exported ESP Web Tools manifest names the same images at the same offsets
    const manifest = JSON.parse(readFileSync(join(s3.dir, "manifest.json"), "utf8")) as { builds: { chipFamily: string; parts: { path: string; offset: number }[] }[] };
    expect(manifest.builds.map((b) => b.chipFamily)).toEqual(["ESP32-S3"]);
    expect(manifest.builds[0].parts.map((p) => [p.offset, p.path])).toEqual(args.map(([o, f]) => [Number(o), `flash/${f}`]));
    for (const part of manifest.builds[0].parts) expect(readFileSync(join(s3.dir, part.path)).equals(readFileSync(join(out, part.path.slice(6)))), part.path).toBe(true);
    expect(await page.$$eval("#flash-done li", (lis) => lis.length)).toBe(3);
    await shot("flash");
  }, 600_000);

  it.skipIf(why)(`ends a flash whose cable is pulled in one line, with nothing reported as written${note}`, async () => {
    const rom = new EspRomEmulator();
    peer = romPeer(rom, 10); // the 10th FLASH_DATA: inside model.bin, after the partition table was written
    await open(s3.url, "flash");
    await page.click("#flash");
    await page.waitForSelector("body[data-flashing=done]", { timeout: 300_000 });
    const status = await page.$eval("#flash-status", (e) => e.textContent ?? "");
    expect(status).toMatch(/^flash: /);
    expect(status).toContain("model.bin at 0x110000");
    expect(status).toMatch(/connection to the board on serial port \(USB 10c4:ea60\) was lost/);
    expect(status).not.toContain("\n");
    expect(status).not.toMatch(/verified|flashed/);
    expect(await page.$eval("#flash-status", (e) => e.className)).toBe("error");
    expect(await page.$$eval("#flash-done li", (lis) => lis.length)).toBe(0);
    expect(await page.$eval("#flash-progress", (b) => (b as HTMLProgressElement).value)).toBe(0);
    await shot("flash-cut");
  }, 600_000);

  it.skipIf(why)(`says in one line that no port was chosen${note}`, async () => {
    await open(s3.url, "flash");
    await page.evaluate(() => {
      (navigator as unknown as { serial: { requestPort: () => Promise<never> } }).serial.requestPort = async () => {
        throw new DOMException("No port selected by the user.", "NotFoundError");
      };
    });
    await page.click("#flash");
    await page.waitForSelector("body[data-flashing=done]");
    expect(await page.$eval("#flash-status", (e) => e.textContent)).toBe(
      "flash: no port chosen: pick the board's serial port in the browser's list (if it is not there, hold BOOT, tap RESET, and try again)",
    );
    expect(await page.$$eval("#flash-done li", (lis) => lis.length)).toBe(0);
  }, 120_000);

  it.skipIf(why)(`talks to the board's prompt on the console${note}`, async () => {
    peer = commandPeer(join(s3.dir, "model", readdirSync(join(s3.dir, "model")).find((f) => f.endsWith(".cmd.wasm"))!));
    await open(s3.url, "console");
    await page.click("#console-open");
    await page.waitForFunction(() => document.getElementById("console-status")!.textContent!.startsWith("connected"));
    await page.fill("#console-input", `"Once upon a time" -n 24 --temp 0`);
    await page.press("#console-input", "Enter");
    await page.waitForFunction(() => document.getElementById("console-log")!.textContent!.includes("tok/s"), undefined, { timeout: 120_000 });
    const log = await text("#console-log");
    expect(log).toMatch(/^> "Once upon a time" -n 24 --temp 0\nOnce upon a time/);
    await shot("console");
  }, 600_000);

  it.skipIf(why)(`is served by slimedge web from an artifact folder${note}`, async () => {
    const p = spawn(process.execPath, [join(root, "bin", "slimedge.js"), "web", join(s3.dir, "model"), "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        p.stdout.on("data", (d) => {
          out += String(d);
          const m = /at (http:\/\/\S+) /.exec(out);
          if (m) resolve(m[1]);
        });
        p.on("exit", (code) => reject(new Error(`slimedge web exited ${code}`)));
      });
      await open(url);
      expect(await page.$eval("#board", (s) => (s as HTMLSelectElement).value)).toBe("esp32-s3");
      expect(await text("#title")).toBe(s3.site.artifact.name);
    } finally {
      p.kill("SIGINT");
    }
  }, 300_000);
});
