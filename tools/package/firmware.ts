/**
 * The native firmware (ARCHITECTURE.md, "Board side"): the artifact's small command module
 * (<name>.core.wasm: no weights, memory fixed to the plan's pages) translated to C by wasm2c and compiled
 * with the portable core in boards/firmware, either for this machine (a program that reads a
 * `slimedge flash --out` folder) or bare metal for an emulated board, linked into exactly the board
 * profile's RAM. The weights never pass through the compiler: on a board the firmware reads them in place
 * from the model partition in flash when the plan put them last (plan.flash; ARCHITECTURE.md, "Weights in
 * flash"), and copies them into RAM otherwise (and always on the host, a 64-bit program).
 *
 *   const fw = buildFirmware("build/esp32-c3", "esp32-c3", "/tmp/fw");   // fw.app: app.bin for `flash --firmware`
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { writeFileAtomic } from "../../host/core/files.ts";
import { basename, join } from "node:path";
import { packagePath } from "../../host/core/package-root.ts";
import { fail } from "../../host/core/errors.ts";
import { PAGE_BYTES } from "../../host/core/plan.ts";
import { PlanSlot, STATIC_BYTES } from "../../host/core/abi.generated.ts";
import { getBoard } from "../../boards/index.ts";
import { emulatedBoard, type EmulatedBoard } from "../../boards/emulated.ts";

export const FIRMWARE_DIR = packagePath("boards", "firmware");
/** The native stack of the bare-metal firmware; the emulated runs report the peak they reached. */
export const NATIVE_STACK_BYTES = 8192;
/** Where the factory app partition starts in flash (host/ship/flash/partitions.ts lays it out there). */
export const APP_OFFSET = 0x10000;
const PICOLIBC = "/usr/lib/picolibc";
const WASM_RT_HEADER = ["/usr/include/wasm-rt.h", "/usr/share/wabt/wasm2c/wasm-rt.h"];

export interface Firmware {
  board: string; // "host" or the emulated board
  elf: string; // the linked program (host: the executable)
  app: string | null; // app.bin for the factory partition (bare metal only)
  pages: number; // linear memory pages, from plan.json
  /** Bytes of RAM the firmware takes: .data + .bss (its own state) + linear memory + native stack. */
  ram: { data: number; bss: number; linearMemory: number; stack: number; total: number; board: number } | null;
  textBytes: number | null; // code and read-only data in flash
  entry: number | null;
  stackTop: number | null;
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) fail("E_FILE", `${what}: ${cmd} not found (${(r.error as NodeJS.ErrnoException).code}); install it (see .ci/run)`);
  if (r.status !== 0) {
    // the first line that says what is wrong: an overflowing region, an undefined symbol, a compiler error
    const lines = `${r.stderr}\n${r.stdout}`.split("\n").filter((l) => /overflow|not fit|larger than|undefined reference|error/i.test(l) && !/^collect2/.test(l));
    fail("E_RUNTIME", `${what} failed: ${(lines[0] ?? r.stderr.trim().split("\n").at(-1) ?? `exit ${r.status}`).trim()}`);
  }
  return r.stdout;
}

/** The artifact folder's core module, its pages, and where its read-only tail starts (null: none). */
function readArtifact(dir: string): { core: string; pages: number; ramBytes: number | null } {
  if (!existsSync(dir)) fail("E_FILE", `${dir}: no artifact folder; make one with slimedge build`);
  const cores = readdirSync(dir).filter((f) => f.endsWith(".core.wasm"));
  if (cores.length !== 1) fail("E_FILE", `${dir}: expected one <name>.core.wasm (slimedge build writes it), found ${cores.length}`);
  const planPath = join(dir, "plan.json");
  if (!existsSync(planPath)) fail("E_FILE", `${planPath}: missing; slimedge build writes it`);
  const json = JSON.parse(readFileSync(planPath, "utf8")) as { pages?: unknown; flash?: { readInPlace?: { offset?: unknown } | null } };
  const pages = json.pages;
  if (typeof pages !== "number" || !Number.isInteger(pages) || pages < 1) return fail("E_FORMAT", `${planPath}: "pages" is not a whole number of pages`);
  const from = json.flash?.readInPlace?.offset;
  if (from !== undefined && (typeof from !== "number" || !Number.isInteger(from) || from % 16 !== 0 || from < 1 || from > pages * PAGE_BYTES))
    fail("E_FORMAT", `${planPath}: "flash.readInPlace.offset" is not a 16-byte-aligned address inside the module's memory`);
  return { core: join(dir, cores[0]), pages, ramBytes: typeof from === "number" ? from : null };
}

/**
 * wasm2c's memory access for the project's own command on its fixed arena (ARCHITECTURE.md, "Board side",
 * "Memory access in the native firmware"), in place of wabt 1.0.32's: the address is an offset into
 * `slim_arena` (the module's one memory, a link-time constant), a load or store whose address is aligned to
 * its size (4 at most) is one typed access, other addresses take the byte copy wasm2c always takes, there
 * is no empty asm after each load, and the per-access bounds check is compiled only with SLIM_BOUNDS_CHECK
 * (the host build the tests run). The values read and written are the same, so the text is too.
 */
const FAST_ACCESS = `/* slimedge: memory access on the fixed arena (tools/package/firmware.ts, FAST_ACCESS). */
#include "slim_native.h"
static inline void load_data(void* dest, const void* src, size_t n) { memcpy(dest, src, n); }
#define LOAD_DATA(m, o, i, s) do { RANGE_CHECK((&m), o, s); load_data(&(m.data[o]), i, s); } while (0)
#if SLIM_BOUNDS_CHECK
#define SLIM_CHECK(mem, a, t) RANGE_CHECK(mem, a, sizeof(t))
#else
#define SLIM_CHECK(mem, a, t) (void)(mem)
#endif
/* On a 32-bit board gcc takes the offset mod 2^32 (pointer width), so the weights' addresses, which carry
   the module's readOnlyDelta, land in flash; the host (64-bit) never gets a delta. A cast through uintptr_t
   would say the same but made gcc fold fewer constant offsets (+1.7 % instructions on esp32-p4 f32). */
#define SLIM_AT(addr) (slim_arena + (addr))
#define SLIM_ALIGN(t) (sizeof(t) < 4 ? sizeof(t) : 4)
#define SLIM_ALIGNED(addr, t) (sizeof(t) == 1 || LIKELY(((uint32_t)(addr) & (SLIM_ALIGN(t) - 1)) == 0)) /* slim_arena is 16-aligned */
#define DEFINE_LOAD(name, t1, t2, t3)                                                                \\
  typedef t1 __attribute__((__may_alias__, __aligned__(SLIM_ALIGN(t1)))) name##_at;                                            \\
  static inline t3 name(wasm_rt_memory_t* mem, u64 addr) {                                           \\
    SLIM_CHECK(mem, addr, t1);                                                                       \\
    const u8* p = SLIM_AT(addr);                                                                     \\
    if (SLIM_ALIGNED(addr, t1)) return (t3)(t2)*(const name##_at*)__builtin_assume_aligned(p, SLIM_ALIGN(t1)); \\
    t1 result;                                                                                       \\
    memcpy(&result, p, sizeof(t1));                                                                  \\
    return (t3)(t2)result;                                                                           \\
  }
#define DEFINE_STORE(name, t1, t2)                                                                   \\
  typedef t1 __attribute__((__may_alias__, __aligned__(SLIM_ALIGN(t1)))) name##_at;                                            \\
  static inline void name(wasm_rt_memory_t* mem, u64 addr, t2 value) {                               \\
    SLIM_CHECK(mem, addr, t1);                                                                       \\
    u8* p = SLIM_AT(addr);                                                                           \\
    t1 wrapped = (t1)value;                                                                          \\
    if (SLIM_ALIGNED(addr, t1)) *(name##_at*)__builtin_assume_aligned(p, SLIM_ALIGN(t1)) = wrapped;     \\
    else memcpy(p, &wrapped, sizeof(t1));                                                            \\
  }
`;

/** command.c with FAST_ACCESS in place of wasm2c's access macros; refuses output it does not recognise. */
export function fastAccess(c: string): string {
  const start = c.indexOf("#if WABT_BIG_ENDIAN\n");
  const end = c.indexOf("DEFINE_LOAD(i32_load, u32, u32, u32)");
  if (start < 0 || end < start || !c.slice(start, end).includes("wasm_asm(\"\" ::\"r\"(result));"))
    fail("E_RUNTIME", "wasm2c: its output's memory access macros are not the ones this build replaces (wabt 1.0.32's); install that wabt");
  const rest = c.slice(end);
  const bulk = rest.replace(BULK_ACCESS[0], BULK_ACCESS[1]).replace(BULK_ACCESS[2], BULK_ACCESS[3]);
  if (!rest.includes(BULK_ACCESS[0]) || !rest.includes(BULK_ACCESS[2]))
    fail("E_RUNTIME", "wasm2c: its output's memory.fill / memory.copy are not the ones this build replaces (wabt 1.0.32's); install that wabt");
  return c.slice(0, start) + FAST_ACCESS + bulk;
}

/**
 * memory.fill and memory.copy through SLIM_AT as well, checked only with SLIM_BOUNDS_CHECK: a copy may read a
 * weight row, whose address carries the firmware's readOnlyDelta (ARCHITECTURE.md, "Weights in flash").
 */
const BULK_ACCESS = [
  `static inline void memory_fill(wasm_rt_memory_t* mem, u32 d, u32 val, u32 n) {
  RANGE_CHECK(mem, d, n);
  memset(mem->data + d, val, n);
}`,
  `static inline void memory_fill(wasm_rt_memory_t* mem, u32 d, u32 val, u32 n) {
#if SLIM_BOUNDS_CHECK
  RANGE_CHECK(mem, d, n);
#endif
  memset(SLIM_AT(d), val, n);
}`,
  `  RANGE_CHECK(dest, dest_addr, n);
  RANGE_CHECK(src, src_addr, n);
  memmove(dest->data + dest_addr, src->data + src_addr, n);`,
  `#if SLIM_BOUNDS_CHECK
  RANGE_CHECK(dest, dest_addr, n);
  RANGE_CHECK(src, src_addr, n);
#endif
  memmove(SLIM_AT(dest_addr), SLIM_AT(src_addr), n);`,
];

/**
 * wasm2c's output for the core module, the arena, and the wasm-rt header, in `out`. The arena is the plan's
 * pages, or with `ramBytes` only the part below the read-only tail, which the firmware reads in place.
 */
function translate(core: string, pages: number, out: string, section: boolean, ramBytes: number | null = null, attrs = ""): string[] {
  mkdirSync(out, { recursive: true });
  run("wasm2c", [core, "-n", "command", "-o", join(out, "command.c")], `wasm2c ${core}`);
  writeFileAtomic(join(out, "command.c"), fastAccess(readFileSync(join(out, "command.c"), "utf8")), "translated module");
  const header = WASM_RT_HEADER.find((p) => existsSync(p)) ?? fail("E_FILE", "wasm-rt.h (wabt's wasm2c runtime header) not found; apt-get install wabt");
  copyFileSync(header, join(out, "wasm-rt.h"));
  writeFileAtomic(join(out, "arena.c"), arenaC(pages, ramBytes, section, attrs));
  return [join(out, "command.c"), join(out, "arena.c")];
}

/** arena.c: the RAM part of the module's memory, its size, and where the plan block's readOnlyDelta slot is. */
function arenaC(pages: number, ramBytes: number | null, section: boolean, attrs: string): string {
  const ram = ramBytes === null ? `${pages}u * 65536u` : `${ramBytes}u`;
  return (
    (ramBytes === null
      ? `/* The module's linear memory: the plan's ${pages} pages, min == max${section ? ", placed by the linker script" : ""}. */\n`
      : `/* The RAM part of the module's memory (${pages} pages): everything below the weights, RoPE table and tokenizer at ${ramBytes},\n` +
        ` * which the firmware reads in place from the model partition (ARCHITECTURE.md, "Weights in flash"). */\n`) +
    `#include <stdint.h>\n${attrs ? '#include "esp_attr.h"\n' : ""}#include "slim_native.h"\n` +
    `${attrs}uint8_t slim_arena[${ram}] __attribute__((aligned(16)${section ? ', section(".arena")' : ""}));\n` +
    `const uint32_t slim_arena_bytes = ${ram};\n` +
    `const uint32_t slim_memory_bytes = ${pages}u * 65536u;\n` +
    `const uint32_t slim_delta_slot = ${STATIC_BYTES}u + 4u * ${PlanSlot.readOnlyDelta}u; /* PlanSlot.readOnlyDelta */\n`
  );
}

const core = (f: string) => join(FIRMWARE_DIR, f);
/**
 * On a board: no per-access bounds check (FAST_ACCESS) and no call-depth counter in every function's
 * prologue; the native stack's peak is measured in the emulated runs instead (ARCHITECTURE.md, "Board side").
 */
const BOARD_DEFINES = ["-DSLIM_BOUNDS_CHECK=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=0"];
const SHARED = ["native/run.c", "native/wasm-rt-board.c", "core/slim_fw.c"].map(core);
const INCLUDES = (out: string) => ["-I", out, "-I", core("core"), "-I", core("native"), "-I", core("qemu")];

/**
 * Builds the native firmware for "host" or an emulated board into `out`. `sanitize: "address"` builds the host
 * program with AddressSanitizer (-O1 -g), for the tests that feed it damaged flash folders.
 */
export function buildFirmware(artifactDir: string, target: string, out: string, opts: { sanitize?: "address" } = {}): Firmware {
  if (!existsSync(FIRMWARE_DIR)) fail("E_FILE", `${FIRMWARE_DIR}: the firmware sources are missing from this checkout`);
  const { core: module, pages, ramBytes } = readArtifact(artifactDir);
  if (target === "host") {
    const sources = translate(module, pages, out, false);
    const elf = join(out, "slimedge-fw");
    // the host build keeps wasm2c's check of every access: the tests run the same C with it on
    const flags = opts.sanitize ? ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"] : ["-O2"];
    run(process.env.CC ?? "cc", [...flags, "-ffp-contract=off", "-w", "-DSLIM_BOUNDS_CHECK=1", ...INCLUDES(out), "-o", elf, ...sources, ...SHARED, core("host/main.c"), "-lm"], "compiling the host firmware");
    return { board: "host", elf, app: null, pages, ram: null, textBytes: null, entry: null, stackTop: null };
  }
  const e = emulatedBoard(target) ?? fail("E_FLAG", `--board ${target}: no emulated native build; emulated boards are esp32-c3, esp32-p4, rp2350, rp2350-psram`);
  return buildBareMetal(e, module, pages, ramBytes, out);
}

/**
 * The WAMR firmware's glue (boards/firmware/wamr) on this machine, linked with a WAMR built from its public
 * sources (`libiwasm.a` of product-mini/platforms/linux, interpreter only, WAMR_BUILD_LIBC_WASI=0): the same
 * program as the host native firmware, loading <name>.core.wasm from the artifact partition instead. WAMR
 * is not a Debian package; this is how the glue is checked against a real WAMR.
 */
export function buildWamrHostFirmware(wamrRoot: string, library: string, out: string, wasmStackBytes = 8192): string {
  const include = join(wamrRoot, "core", "iwasm", "include");
  if (!existsSync(join(include, "wasm_export.h"))) fail("E_FILE", `${wamrRoot}: not a WAMR source tree (no core/iwasm/include/wasm_export.h)`);
  if (!existsSync(library)) fail("E_FILE", `${library}: no WAMR library; build product-mini/platforms/linux with cmake first`);
  mkdirSync(out, { recursive: true });
  const elf = join(out, "slimedge-fw-wamr");
  run(
    process.env.CC ?? "cc",
    ["-O2", "-w", "-DSLIM_WAMR", `-DSLIM_WASM_STACK_BYTES=${wasmStackBytes}`, "-I", core("core"), "-I", core("wamr"), "-I", include, "-o", elf,
      core("host/main.c"), core("core/slim_fw.c"), core("wamr/slim_wamr.c"), library, "-lm", "-lpthread", "-ldl"],
    "compiling the host WAMR firmware",
  );
  return elf;
}

function buildBareMetal(e: EmulatedBoard, module: string, pages: number, ramBytes: number | null, out: string): Firmware {
  const board = getBoard(e.board);
  const sources = translate(module, pages, out, true, ramBytes);
  const appBytes = 0x100000;
  const ld = readFileSync(core("qemu/link.ld.in"), "utf8")
    .replaceAll("@FLASH_ORIGIN@", `0x${e.qemu.flashBase.toString(16)}`)
    .replaceAll("@FLASH_BYTES@", `0x${Math.min(e.qemu.flashWindow, board.flashBytes ?? e.qemu.flashWindow).toString(16)}`)
    .replaceAll("@RAM_ORIGIN@", `0x${e.qemu.ramBase.toString(16)}`)
    .replaceAll("@RAM_BYTES@", String(board.ramBytes))
    .replaceAll("@APP_OFFSET@", `0x${APP_OFFSET.toString(16)}`)
    .replaceAll("@APP_BYTES@", `0x${appBytes.toString(16)}`)
    .replaceAll("@STACK_BYTES@", String(NATIVE_STACK_BYTES));
  writeFileAtomic(join(out, "link.ld"), ld, "linker script");
  const lib = join(PICOLIBC, e.picolibc);
  if (!existsSync(join(lib, "libc.a"))) fail("E_FILE", `${lib}/libc.a: picolibc for ${e.isa} not found; apt-get install ${e.packages.join(" ")}`);
  const libgcc = run(e.cc, [...e.libgccFlags, "-print-libgcc-file-name"], `${e.cc}`).trim();
  const elf = join(out, "firmware.elf");
  run(
    e.cc,
    [
      ...e.cflags, "-O2", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections", "-w", "-nostdlib", "-nostartfiles", ...BOARD_DEFINES,
      "-isystem", join(PICOLIBC, e.picolibc.split("/")[0], "include"), ...INCLUDES(out), "-T", join(out, "link.ld"), "-Wl,--gc-sections",
      "-o", elf, ...sources, ...SHARED, core("qemu/main.c"), ...e.platform.map((f) => core(`qemu/${f}`)),
      join(lib, "libc.a"), join(lib, "libm.a"), join(lib, "libc.a"), libgcc,
    ],
    `linking the ${e.board} firmware (${ramBytes === null ? `${pages} pages of linear memory` : `${ramBytes} bytes of the arena, the weights in flash,`} into ${board.ramBytes} bytes of RAM)`,
  );
  const prefix = e.cc.replace(/gcc$/, "");
  const app = join(out, "app.bin");
  run(`${prefix}objcopy`, ["-O", "binary", "-R", ".vectors", "-R", ".bss", "-R", ".arena", "-R", ".stack", elf, app], "objcopy");
  const sections = new Map<string, number>();
  for (const line of run(`${prefix}size`, ["-A", elf], "size").split("\n")) {
    const m = /^(\.\S+)\s+(\d+)\s+(\d+)/.exec(line);
    if (m) sections.set(m[1], Number(m[2]));
  }
  const symbols = new Map<string, number>();
  for (const line of run(`${prefix}nm`, [elf], "nm").split("\n")) {
    const m = /^([0-9a-f]+)\s+\S\s+(\S+)$/.exec(line);
    if (m) symbols.set(m[2], parseInt(m[1], 16));
  }
  const data = sections.get(".data") ?? 0;
  const bss = sections.get(".bss") ?? 0;
  const linearMemory = ramBytes ?? pages * PAGE_BYTES;
  return {
    board: e.board,
    elf,
    app,
    pages,
    ram: { data, bss, linearMemory, stack: NATIVE_STACK_BYTES, total: data + bss + linearMemory + NATIVE_STACK_BYTES, board: board.ramBytes },
    textBytes: (sections.get(".text") ?? 0) + data,
    entry: symbols.get("_start") ?? null,
    stackTop: symbols.get("__stack_top") ?? null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// the ESP-IDF project

export type FirmwareKind = "wamr" | "native";

/** ESP-IDF's target name of each Espressif board profile (idf.py set-target). */
const IDF_TARGET: Record<string, string> = { esp32: "esp32", "esp32-psram": "esp32", "esp32-s3": "esp32s3", "esp32-c3": "esp32c3", "esp32-p4": "esp32p4" };

/**
 * Writes an ESP-IDF project for the artifact into `out`, ready for `idf.py set-target <chip> && idf.py build`:
 * the portable core and app_main.c, plus either the wasm2c translation of <name>.core.wasm with its
 * board runtime and the arena of the plan's pages (native; in PSRAM on PSRAM boards), or the WAMR glue with
 * WAMR as a component (wamr: interpreter, fast or classic as the profile says, AOT and WAMR's own libc off,
 * app heap 0, the wasm stack from the plan). partitions.csv is the caller's: the CLI writes the layout
 * `slimedge flash` will write. Returns the files written.
 */
export function writeIdfProject(artifactDir: string, boardName: string, kind: FirmwareKind, out: string, wasmStackBytes = 8192): string[] {
  const board = getBoard(boardName);
  const target = IDF_TARGET[board.name] ?? fail("E_FLAG", `--firmware: ${board.name} is not an Espressif board; the ESP-IDF project is for ${Object.keys(IDF_TARGET).join(", ")}`);
  const { core: module, pages, ramBytes } = readArtifact(artifactDir);
  const main = join(out, "main");
  mkdirSync(main, { recursive: true });
  const files: string[] = [];
  const put = (path: string, text: string) => {
    writeFileAtomic(path, text, "firmware project file");
    files.push(path);
  };
  const copy = (from: string, to = basename(from)) => {
    copyFileSync(core(from), join(main, to));
    files.push(join(main, to));
  };
  const psram = board.psramBytes > 0;
  const sources = ["app_main.c", "slim_fw.c"];
  copy("esp-idf/main/app_main.c");
  copy("core/slim_fw.c");
  copy("core/slim_fw.h");
  if (kind === "native") {
    // the arena (the RAM part with the weights in flash), in PSRAM where the profile puts the linear memory
    translate(module, pages, main, false, ramBytes, psram ? "EXT_RAM_BSS_ATTR " : "");
    files.push(join(main, "command.c"), join(main, "command.h"), join(main, "wasm-rt.h"), join(main, "arena.c"));
    for (const f of ["native/run.c", "native/wasm-rt-board.c", "native/slim_native.h"]) copy(f);
    sources.push("command.c", "arena.c", "run.c", "wasm-rt-board.c");
  } else {
    for (const f of ["wamr/slim_wamr.c", "wamr/slim_wamr.h"]) copy(f);
    sources.push("slim_wamr.c");
  }
  put(
    join(main, "slim_config.h"),
    `/* Written by slimedge build --firmware ${kind} for ${board.name} from ${basename(module)}. */\n` +
      `#define SLIM_FIRMWARE_WAMR ${kind === "wamr" ? 1 : 0}\n#define SLIM_FIRMWARE_NATIVE ${kind === "native" ? 1 : 0}\n` +
      `#define SLIM_PAGES ${pages}u\n#define SLIM_WASM_STACK_BYTES ${wasmStackBytes}u\n`,
  );
  put(
    join(main, "CMakeLists.txt"),
    `idf_component_register(SRCS ${sources.map((s) => `"${s}"`).join(" ")}\n` +
      `                       INCLUDE_DIRS "."\n` +
      `                       PRIV_REQUIRES esp_partition esp_timer esp_driver_uart${kind === "wamr" ? " wamr" : ""})\n` +
      // the translated module and the core keep every f32 operation rounded as WebAssembly rounds it
      `target_compile_options(\${COMPONENT_LIB} PRIVATE -O2 -ffp-contract=off ${BOARD_DEFINES.join(" ")} -Wno-unused-function -Wno-unused-variable)\n`,
  );
  put(
    join(out, "CMakeLists.txt"),
    `# ESP-IDF project written by slimedge build --firmware ${kind} (board ${board.name}, ${pages} pages).\n` +
      `cmake_minimum_required(VERSION 3.16)\n` +
      (kind === "wamr"
        ? `if(NOT DEFINED ENV{WAMR_PATH})\n  message(FATAL_ERROR "set WAMR_PATH to a wasm-micro-runtime checkout")\nendif()\n` +
          `list(APPEND EXTRA_COMPONENT_DIRS "$ENV{WAMR_PATH}/build-scripts/esp-idf")\n`
        : "") +
      `include($ENV{IDF_PATH}/tools/cmake/project.cmake)\nproject(slimedge)\n`,
  );
  const flashMiB = (board.flashBytes ?? 4 << 20) >> 20;
  const config = [
    `CONFIG_IDF_TARGET="${target}"`,
    "CONFIG_PARTITION_TABLE_CUSTOM=y",
    `CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"`,
    `CONFIG_ESPTOOLPY_FLASHSIZE_${flashMiB}MB=y`,
    // the run blocks the main task for seconds per token: the idle task's watchdog must not fire
    "# CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 is not set",
    `CONFIG_ESP_MAIN_TASK_STACK_SIZE=${kind === "wamr" ? 16384 : 12288}`,
    ...(psram
      ? ["CONFIG_SPIRAM=y", "CONFIG_SPIRAM_USE_MALLOC=y", "CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY=y", ...(target === "esp32s3" ? ["CONFIG_SPIRAM_MODE_OCT=y"] : [])]
      : []),
    ...(kind === "wamr"
      ? [
          "CONFIG_WAMR_ENABLE_INTERP=y",
          board.runtime === "wamr-classic" ? "CONFIG_WAMR_INTERP_CLASSIC=y" : "CONFIG_WAMR_INTERP_FAST=y",
          "# CONFIG_WAMR_ENABLE_AOT is not set",
          "# CONFIG_WAMR_ENABLE_LIBC_BUILTIN is not set",
          "# CONFIG_WAMR_ENABLE_LIBC_WASI is not set",
        ]
      : []),
  ];
  put(join(out, "sdkconfig.defaults"), config.join("\n") + "\n");
  return files;
}
