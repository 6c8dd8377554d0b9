/*
 * The host build of the firmware core: reads a `slimedge flash --out` folder (flash_args and the images it
 * names), lays the images out in a flash-sized buffer at their offsets, and runs the command on it exactly
 * as a board does from its SPI flash: the wasm2c-native module, or — built with -DSLIM_WAMR and linked with
 * a WAMR built from its sources — the core module from the artifact partition under WAMR's interpreter.
 *
 *   slimedge-fw <flash-dir> ["prompt"] [-n 64] [--temp 1] [--top-p 0.9] [--seed 42]
 *
 * stdout: the command's text; stderr: its summary and this firmware's report lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slim_fw.h"
#ifdef SLIM_WAMR
#include "slim_wamr.h"
#ifndef SLIM_WASM_STACK_BYTES
#define SLIM_WASM_STACK_BYTES 8192
#endif
#else
#include "slim_native.h"
#endif

void slim_board_write(int fd, const uint8_t* bytes, uint32_t n) {
  while (n > 0) {
    ssize_t k = write(fd, bytes, n);
    if (k <= 0) return;
    bytes += k, n -= (uint32_t)k;
  }
}

uint64_t slim_board_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
uint64_t slim_board_counter(void) { return slim_board_now_ns(); }
const char* const slim_board_counter_unit = "ns";

/* What main holds while it reads flash_args; die() lets go of it, so a refusal leaves nothing behind. */
static FILE* g_args;
static FILE* g_image;
static uint8_t* g_flash;

static int die(const char* dir, const char* what) {
  fprintf(stderr, "slimedge-fw: %s/flash_args: %s\n", dir, what);
  if (g_image) fclose(g_image);
  if (g_args) fclose(g_args);
  free(g_flash);
  g_image = g_args = NULL, g_flash = NULL;
  return 2;
}

/* The largest flash esptool names (--flash_size 128MB); the buffer is allocated whole, so this bounds it. */
#define MAX_FLASH_MB 128u

/*
 * `--flash_size <N>MB` as esptool writes it: 1 to 3 decimal digits, then "MB", then a space or the end of
 * the line, N from 1 to MAX_FLASH_MB. No strtoul: it takes a sign ("-1" would become 4095 MB) and wraps.
 */
static int parse_flash_mb(const char* s, uint32_t* mb) {
  uint32_t n = 0, digits = 0;
  while (*s >= '0' && *s <= '9') {
    if (++digits > 3) return 0;
    n = n * 10u + (uint32_t)(*s++ - '0');
  }
  if (digits == 0 || s[0] != 'M' || s[1] != 'B' || (s[2] != '\0' && s[2] != ' ' && s[2] != '\n' && s[2] != '\r')) return 0;
  if (n < 1 || n > MAX_FLASH_MB) return 0;
  *mb = n;
  return 1;
}

/* An image line's offset: "0x" and 1 to 8 hex digits, then blanks; *end is set past the blanks. */
static int parse_offset(const char* s, uint32_t* offset, const char** end) {
  if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return 0;
  s += 2;
  uint32_t v = 0, digits = 0;
  for (;; s++) {
    uint32_t d;
    if (*s >= '0' && *s <= '9') d = (uint32_t)(*s - '0');
    else if (*s >= 'a' && *s <= 'f') d = (uint32_t)(*s - 'a' + 10);
    else if (*s >= 'A' && *s <= 'F') d = (uint32_t)(*s - 'A' + 10);
    else break;
    if (++digits > 8) return 0;
    v = (v << 4) | d;
  }
  if (digits == 0 || (*s != ' ' && *s != '\t')) return 0;
  while (*s == ' ' || *s == '\t') s++;
  *offset = v;
  *end = s;
  return 1;
}

/* die() with the line number and a detail. */
static int die_at(const char* dir, unsigned line_no, const char* what, const char* detail) {
  char msg[1400];
  snprintf(msg, sizeof msg, "line %u: %s%s", line_no, what, detail ? detail : "");
  return die(dir, msg);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: slimedge-fw <flash-dir> [\"prompt\"] [-n 64] [--temp 1] [--top-p 0.9] [--seed 42]\n");
    return 2;
  }
  const char* dir = argv[1];
  char path[4096];
  snprintf(path, sizeof path, "%s/flash_args", dir);
  FILE* args = g_args = fopen(path, "r");
  if (!args) return die(dir, "cannot be read (write the folder with slimedge flash --out)");
  char line[4096];
  uint32_t flash_bytes = 0;
  uint8_t* flash = NULL;
  unsigned line_no = 0;
  while (fgets(line, sizeof line, args)) {
    line_no++;
    if (strlen(line) == sizeof line - 1 && line[sizeof line - 2] != '\n') return die_at(dir, line_no, "is longer than 4094 characters", NULL);
    line[strcspn(line, "\r\n")] = '\0';
    const char* s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0') continue;
    if (s[0] == '-' && s[1] == '-') { /* the flash options line; only --flash_size matters here */
      const char* size = strstr(s, "--flash_size ");
      if (!size) continue;
      if (flash) return die_at(dir, line_no, "gives --flash_size a second time", NULL);
      uint32_t mb;
      if (!parse_flash_mb(size + 13, &mb)) {
        char got[64];
        snprintf(got, sizeof got, " (got \"%.*s\")", (int)strcspn(size + 13, " "), size + 13);
        return die_at(dir, line_no, "--flash_size is not 1MB to 128MB, the sizes esptool names", got);
      }
      flash_bytes = mb << 20;
      flash = g_flash = malloc(flash_bytes);
      if (!flash) return die(dir, "no memory for the flash image");
      memset(flash, 0xff, flash_bytes);
      continue;
    }
    uint32_t offset;
    const char* file;
    if (!parse_offset(s, &offset, &file) || *file == '\0' || strpbrk(file, " \t")) {
      char got[1100];
      snprintf(got, sizeof got, " (got \"%.1000s\")", s);
      return die_at(dir, line_no, "is not an image line \"0x<offset, 1 to 8 hex digits> <file>\"", got);
    }
    if (!flash) return die_at(dir, line_no, "an image line comes before --flash_size", NULL);
    if (offset >= flash_bytes) {
      char got[96];
      snprintf(got, sizeof got, " (0x%x, flash is 0x%x bytes)", (unsigned)offset, (unsigned)flash_bytes);
      return die_at(dir, line_no, "the image offset is past the end of flash", got);
    }
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE* image = g_image = fopen(path, "rb");
    if (!image) return die_at(dir, line_no, "names an image that cannot be read: ", file);
    long n = -1;
    if (fseek(image, 0, SEEK_END) == 0) n = ftell(image);
    if (n < 0 || fseek(image, 0, SEEK_SET) != 0) return die_at(dir, line_no, "names an image whose size cannot be read: ", file);
    if ((uint64_t)n > (uint64_t)(flash_bytes - offset)) return die_at(dir, line_no, "the image runs past the end of flash: ", file);
    if (fread(flash + offset, 1, (size_t)n, image) != (size_t)n) return die_at(dir, line_no, "an image could not be read whole: ", file);
    fclose(image);
    g_image = NULL;
  }
  fclose(args);
  g_args = NULL;
  if (!flash) return die(dir, "has no --flash_size");
  argv[1] = argv[0]; /* the command sees: program, then its own arguments */
#ifdef SLIM_WAMR
  return slim_run_wamr(flash, flash_bytes, SLIM_WASM_STACK_BYTES, argc - 1, argv + 1);
#else
  return slim_run_native(flash, flash_bytes, argc - 1, argv + 1);
#endif
}
