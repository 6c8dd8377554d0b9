/**
 * The slimedge page: pick a board and see the plan, try the model in the browser, flash an ESP32 over Web
 * Serial, and talk to it on its console. Plain DOM, no framework; bundled once by `npm install`
 * (host/web/vite.config.ts) into build/web/.
 */
import { readTextTokenizer, type TextTokenizer } from "../../core/tokenizers.ts";
import { generateOn, promptIds, summaryLine, type GenerateResult } from "../../runtime/generate-loop.ts";
import type { Decoder } from "../../runtime/reactor.ts";
import { SAMPLER_DEFAULTS } from "../../runtime/sampler.ts";
import { formatBytes } from "../../core/format.ts";
import type { BoardView, FlashView, SiteData } from "../site-data.ts";
import { startArtifact } from "./artifact.ts";
import { choosePort, flashFromPage, openConsole, type WebSerialPort } from "./serial.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...kids);
  return e;
};
const bytesOf = async (path: string): Promise<Uint8Array> => {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};
/** One line for the user: a SlimError's message as the CLI prints it, anything else by its message. */
const oneLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();

let site: SiteData;

// ---------------------------------------------------------------------------------------------------------
// screens

function showScreen(name: string): void {
  for (const s of document.querySelectorAll<HTMLElement>("section.screen")) s.hidden = s.id !== `screen-${name}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>("nav button")) b.setAttribute("aria-selected", String(b.dataset.screen === name));
  document.body.dataset.screen = name;
}

// ---------------------------------------------------------------------------------------------------------
// plan

function renderBoard(b: BoardView): void {
  $("board-line").textContent = b.boardLine;
  $("fit-title").textContent = b.title;
  const table = $("fit-table");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...b.headers.map((h, i) => el("th", { class: b.align[i] === "r" ? "r" : "" }, h)))),
    el("tbody", {}, ...b.rows.map((r) => el("tr", {}, ...r.map((c, i) => el("td", { class: b.align[i] === "r" ? "r" : "" }, c))))),
  );
  $("fit-notes").replaceChildren(...b.notes.map((n) => el("p", { class: "note" }, n)));
  const map = $("map");
  const budgets = $("budgets");
  if (b.map) {
    map.replaceChildren(el("h3", {}, `memory map: ctx ${b.map.ctx}, ${b.map.weights} weights, ${b.map.kCache} cache rows`), el("img", { src: b.map.svg, alt: `memory map of ${b.name}`, id: "map-img" }));
    budgets.replaceChildren(
      el("li", { id: "budget-fit" }, b.map.summary),
      ...(b.map.ram ? [] : [el("li", { id: "budget-ram" }, `RAM: ${b.profile.runtime} on an OS; the profile's ${formatBytes(b.profile.linearMemoryBytes)} of linear memory leaves the OS and runtime their share`)]),
      el("li", { id: "budget-flash" }, b.flash),
      el("li", { id: "budget-layers" }, `layers: ${b.map.modes} (S = slim, K-cache only; V = V-cache kept)`),
    );
  } else {
    map.replaceChildren(el("p", { class: "note" }, `no context of this model fits ${b.name} at ${site.artifact.weights} weights and ${site.artifact.kCache} cache rows`));
    budgets.replaceChildren(el("li", { id: "budget-flash" }, b.flash));
  }
}

function setupPlan(): void {
  const select = $<HTMLSelectElement>("board");
  select.replaceChildren(...site.boards.map((b) => el("option", { value: b.name }, `${b.name} — ${b.profile.title}`)));
  select.value = site.artifact.board;
  select.addEventListener("change", () => renderBoard(site.boards.find((b) => b.name === select.value)!));
  renderBoard(site.boards.find((b) => b.name === select.value)!);
}

// ---------------------------------------------------------------------------------------------------------
// try: the artifact's reactor in this tab

let decoder: Promise<Decoder> | null = null;
let tokenizer: Promise<TextTokenizer> | null = null;

function setupTry(): void {
  const a = site.artifact;
  $("try-module").textContent = `${a.reactor} (${a.build} build for ${a.board}, ${a.pages} pages = ${formatBytes(a.pages * 65536)} fixed linear memory, ctx ${a.ctx}) with the weights and plan block of ${a.command}`;
  $<HTMLInputElement>("temp").value = "0";
  $<HTMLInputElement>("top-p").value = String(SAMPLER_DEFAULTS.topP);
  $<HTMLInputElement>("seed").value = String(SAMPLER_DEFAULTS.seed);
  $("generate").addEventListener("click", () => void generate());
}

async function generate(): Promise<void> {
  const a = site.artifact;
  const out = $("out");
  const summary = $("summary");
  const status = $("try-status");
  const button = $<HTMLButtonElement>("generate");
  button.disabled = true;
  out.textContent = "";
  summary.textContent = "";
  status.textContent = "loading the module…";
  document.body.dataset.generating = "yes";
  try {
    tokenizer ??= bytesOf(site.tokenizer.path).then((b) => readTextTokenizer(site.tokenizer.kind, b, site.tokenizer.name, a.config.vocabSize));
    decoder ??= Promise.all([bytesOf(a.reactor), bytesOf(a.command)]).then(([r, c]) => startArtifact(a, r, c));
    const [tok, dec] = await Promise.all([tokenizer, decoder]);
    dec.reset();
    const o = {
      prompt: $<HTMLInputElement>("prompt").value,
      steps: Number($<HTMLInputElement>("steps").value),
      ctx: a.ctx,
      build: a.build,
      sampler: { temperature: Number($<HTMLInputElement>("temp").value), topP: Number($<HTMLInputElement>("top-p").value), seed: Number($<HTMLInputElement>("seed").value) },
      onText: (s: string) => {
        out.textContent += s;
      },
      tick: () => new Promise<void>((r) => setTimeout(r, 0)), // let the page paint each token
    };
    status.textContent = "generating…";
    const r: GenerateResult = await generateOn(dec, tok, promptIds(tok, o), o);
    summary.textContent = summaryLine(r, a.build);
    status.textContent = "";
  } catch (e) {
    status.textContent = oneLine(e);
    decoder = null;
  } finally {
    button.disabled = false;
    document.body.dataset.generating = "done";
  }
}

// ---------------------------------------------------------------------------------------------------------
// flash and console

let consolePort: WebSerialPort | null = null;

function setupFlash(): void {
  const f = site.flash;
  if (!f || "error" in f) {
    $("flash-info").textContent = f ? `slimedge: ${f.error}` : `${site.artifact.board} is not an Espressif board: nothing to flash from the page`;
    $<HTMLButtonElement>("flash").disabled = true;
    return;
  }
  $("flash-info").textContent = `${f.chip} on ${f.board}, ${f.flashSize} flash: the images and offsets of slimedge flash --out, each MD5-verified after writing`;
  $("images").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", {}, "image"), el("th", { class: "r" }, "offset"), el("th", { class: "r" }, "bytes"), el("th", {}, "MD5"))),
    el("tbody", {}, ...f.images.map((i) => el("tr", {}, el("td", {}, i.file), el("td", { class: "r" }, `0x${i.offset.toString(16)}`), el("td", { class: "r" }, String(i.bytes)), el("td", { class: "mono" }, i.md5)))),
  );
  $("flash").addEventListener("click", () => void flash());
}

async function flash(): Promise<void> {
  const f = site.flash as FlashView;
  const board = site.boards.find((b) => b.name === f.board)!.profile;
  const status = $("flash-status");
  const bar = $<HTMLProgressElement>("flash-progress");
  const done = $("flash-done");
  const log = $("flash-log");
  const button = $<HTMLButtonElement>("flash");
  button.disabled = true;
  status.className = "";
  status.textContent = "choose the board's serial port…";
  done.replaceChildren();
  log.textContent = "";
  bar.value = 0;
  document.body.dataset.flashing = "yes";
  try {
    const port = await choosePort();
    status.textContent = "connecting to the ROM bootloader…";
    const report = await flashFromPage(f, board, port, {
      baud: Number($<HTMLSelectElement>("baud").value),
      fetchBytes: bytesOf,
      log: (line) => (log.textContent += `${line}\n`),
      onProgress: (n, total, p) => {
        bar.max = total;
        bar.value = n;
        status.textContent = `writing ${p.image.file} at 0x${p.image.offset.toString(16)}: ${Math.floor((100 * n) / total)} %`;
      },
    });
    bar.value = bar.max;
    status.textContent = `flashed ${report.chip}: ${report.images.length} images written and MD5-verified; ${report.reset}`;
    status.className = "ok";
    done.replaceChildren(...report.images.map((i) => el("li", {}, `${i.file} at 0x${i.offset.toString(16)}: ${i.bytes} bytes, MD5 ${i.md5} verified`)));
    consolePort = port;
  } catch (e) {
    bar.value = 0;
    status.textContent = oneLine(e);
    status.className = "error";
  } finally {
    button.disabled = false;
    document.body.dataset.flashing = "done";
  }
}

let console_: Awaited<ReturnType<typeof openConsole>> | null = null;

function setupConsole(): void {
  const text = $("console-log");
  $("console-open").addEventListener("click", async () => {
    const status = $("console-status");
    try {
      if (console_) {
        await console_.stop();
        console_ = null;
        $("console-open").textContent = "Connect";
        status.textContent = "closed";
        return;
      }
      const port = consolePort ?? (await choosePort());
      console_ = await openConsole(port, 115200, (s) => {
        text.textContent += s;
        text.scrollTop = text.scrollHeight;
      });
      $("console-open").textContent = "Disconnect";
      status.textContent = "connected at 115200 baud: type a prompt and press Enter (the firmware's command line: \"text\" -n 64 --temp 0)";
    } catch (e) {
      status.textContent = oneLine(e);
    }
  });
  $("console-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>("console-input");
    if (!console_) {
      $("console-status").textContent = "connect to the board first";
      return;
    }
    text.textContent += `> ${input.value}\n`;
    await console_.send(input.value);
    input.value = "";
  });
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  site = (await (await fetch("site.json")).json()) as SiteData;
  document.title = `slimedge · ${site.title}`;
  $("title").textContent = site.title;
  $("shape").textContent = `${site.shape} · from ${site.source}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>("nav button")) b.addEventListener("click", () => (location.hash = b.dataset.screen!));
  setupPlan();
  setupTry();
  setupFlash();
  setupConsole();
  showScreen(location.hash.slice(1) || "plan");
  window.addEventListener("hashchange", () => showScreen(location.hash.slice(1) || "plan"));
  document.body.dataset.ready = "yes";
}

main().catch((e) => {
  document.body.textContent = `slimedge: ${oneLine(e)}`;
});
