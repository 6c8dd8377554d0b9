/**
 * Boards the native firmware (boards/firmware) is built for bare metal and run on in QEMU (ARCHITECTURE.md,
 * "Board side"): the instruction set the board's toolchain targets, the picolibc build it links, and the
 * emulated machine with where its flash window and RAM sit. The RAM the firmware may use is the board
 * profile's ramBytes, enforced by the linker script; QEMU's RAM is only rounded up to whole MiB around it.
 *
 * The emulator counts instructions, not cycles. The speed estimate turns them into time with an assumed
 * cycles-per-instruction (CPI) for the board's core, stated with its reasons below, and the memory floor of
 * the profile's bandwidth: whichever is slower wins.
 */
export interface EmulatedBoard {
  board: string; // the profile's --board name
  isa: string; // what the C is compiled for
  cc: string;
  cflags: string[];
  /** picolibc's multilib folder under /usr/lib/picolibc (Debian picolibc-<triple>). */
  picolibc: string;
  /** Flags that select the same multilib for libgcc (its soft-float and division routines). */
  libgccFlags: string[];
  qemu: {
    binary: string;
    machine: string;
    cpu: string | null;
    /** Where flash offset 0 is in the emulated address space, and how many bytes of flash it shows. */
    flashBase: number;
    flashWindow: number;
    /** Where the firmware's RAM region starts. */
    ramBase: number;
    /** How the CPU starts: "pc" sets the program counter to the app (rv32); "vector" writes the two-word
     * boot vector (stack, entry) at flash offset 0 that the boot ROM would read (Cortex-M). */
    boot: "pc" | "vector";
  };
  /** Board-specific C and assembly in boards/firmware/qemu. */
  platform: string[];
  /** Debian packages the build and the run need. */
  packages: string[];
  cpi: number;
  cpiBasis: string;
}

const RV_PICO = "riscv64-unknown-elf";
const ARM_PICO = "arm-none-eabi";

const rv32 = (board: string, isa: string, abi: string, lib: string, cpu: string, cpi: number, cpiBasis: string): EmulatedBoard => ({
  board,
  isa,
  cc: "riscv64-unknown-elf-gcc",
  cflags: [`-march=${isa}`, `-mabi=${abi}`, "-mcmodel=medany"],
  picolibc: `${RV_PICO}/lib/${lib}`,
  libgccFlags: [`-march=${lib.split("/")[0]}`, `-mabi=${lib.split("/")[1]}`],
  qemu: { binary: "qemu-system-riscv32", machine: "virt", cpu, flashBase: 0x20000000, flashWindow: 32 << 20, ramBase: 0x80000000, boot: "pc" },
  platform: ["rv32-virt.c", "rv32-start.S"],
  packages: ["gcc-riscv64-unknown-elf", "picolibc-riscv64-unknown-elf", "qemu-system-misc"],
  cpi,
  cpiBasis,
});

const m33 = (board: string): EmulatedBoard => ({
  board,
  isa: "armv8-m.main+fp (Cortex-M33, single-precision FPU)",
  cc: "arm-none-eabi-gcc",
  cflags: ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
  picolibc: `${ARM_PICO}/lib/thumb/v8-m.main+fp/hard`,
  libgccFlags: ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
  // mps2-an505: SSRAM1 (4 MiB, secure alias 0x10000000) is the flash window; the 16 MiB PSRAM at 0x80000000 the RAM
  qemu: { binary: "qemu-system-arm", machine: "mps2-an505", cpu: null, flashBase: 0x10000000, flashWindow: 4 << 20, ramBase: 0x80000000, boot: "vector" },
  platform: ["m33-an505.c", "m33-start.c"],
  packages: ["gcc-arm-none-eabi", "picolibc-arm-none-eabi", "qemu-system-arm"],
  cpi: 1.5,
  cpiBasis:
    "Cortex-M33: 3-stage in-order pipeline with limited dual issue; loads take 1-2 cycles from SRAM, VFMA/VMUL 1-3, taken " +
    "branches 2-3 (Arm Cortex-M33 TRM, instruction timing). 1.5 cycles per instruction assumed for this load-heavy code; " +
    "PSRAM reads through the RP2350's QMI cache cost more, which the memory floor accounts for",
});

export const EMULATED: readonly EmulatedBoard[] = [
  rv32("esp32-c3", "rv32imc_zicsr", "ilp32", "rv32im/ilp32", "rv32,f=false,d=false", 1.5,
    "ESP32-C3: single-issue in-order RV32IMC core; SRAM loads 1-2 cycles, taken branches 2-3, divisions up to 32 " +
    "(ESP32-C3 TRM, CPU chapter); code runs from flash through a 16 KiB cache, hot loops stay in it. No FPU: every f32 " +
    "operation is a soft-float call, counted in the instructions. 1.5 cycles per instruction assumed"),
  rv32("esp32-p4", "rv32imafc", "ilp32f", "rv32imafc/ilp32f", "rv32", 1.5,
    "ESP32-P4 HP core: in-order RV32IMAFC with single-precision FPU at 400 MHz; 1.5 cycles per instruction assumed " +
    "for code and data in L1/L2MEM; the arena in PSRAM streams its weights each token, which the memory floor accounts for"),
  m33("rp2350"),
  m33("rp2350-psram"),
];

export const emulatedBoard = (name: string): EmulatedBoard | undefined => EMULATED.find((e) => e.board === name);
