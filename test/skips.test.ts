// Skips say why, and the run's summary names the Debian packages that would enable them.
import { describe, expect, it } from "vitest";
import { debianPackages, skipNote, toolMissing } from "./skips.ts";
import { skipSummary } from "./skip-report.ts";

describe("skip reasons", () => {
  it("put the reason in the test's name only when it skips", () => {
    expect(skipNote(null)).toBe("");
    expect(skipNote(false)).toBe("");
    expect(skipNote("socat not found (apt-get install socat)")).toBe(" — skipped: socat not found (apt-get install socat)");
  });

  it("name the Debian package of a missing tool", () => {
    expect(toolMissing("sh", "dash")).toBeNull();
    expect(toolMissing("slimedge-no-such-tool", "slimedge-pkg")).toBe("slimedge-no-such-tool not found (apt-get install slimedge-pkg)");
    expect(debianPackages("needs wasm2c (apt-get install wabt) and a C compiler cc (apt-get install gcc libc6-dev)")).toEqual(["wabt", "gcc", "libc6-dev"]);
  });

  it("are summed up by reason, with the packages that enable them", () => {
    const lines = skipSummary([
      { file: "test/flash.test.ts", name: "flash > writes images — skipped: needs socat (apt-get install socat)" },
      { file: "test/flash.test.ts", name: "flash > retries — skipped: needs socat (apt-get install socat)" },
      { file: "test/deploy-ssh.test.ts", name: "slimedge deploy --host — skipped: /usr/sbin/sshd not found (Debian: apt-get install openssh-server) > deploys" },
      { file: "test/fleet.test.ts", name: "slimedge deploy --inventory — skipped: /usr/sbin/sshd not found (Debian: apt-get install openssh-server) > rolls back" },
      { file: "test/decoder.test.ts", name: "GQA > rotated keys — skipped: slim attention needs n_kv_heads == n_heads" },
      { file: "test/x.test.ts", name: "quiet > one" },
    ]);
    expect(lines).toEqual([
      "skipped 6 tests:",
      "    2 × needs socat (apt-get install socat) (test/flash.test.ts)",
      "    2 × /usr/sbin/sshd not found (Debian: apt-get install openssh-server) (test/deploy-ssh.test.ts, test/fleet.test.ts)",
      "    1 × slim attention needs n_kv_heads == n_heads (test/decoder.test.ts)",
      "    1 × no reason given: quiet > one (test/x.test.ts)",
      "Debian packages that enable them: openssh-server socat",
    ]);
    expect(skipSummary([])).toEqual([]);
  });

  it("count tests a -t pattern left out on their own line, and still list a silent skip that matches it", () => {
    const run = [
      { file: "test/quant.test.ts", name: "Q8_0 kernels (simd) > quantizes activations" },
      { file: "test/quant.test.ts", name: "Q8_0 kernels (scalar) > quantizes activations" },
      { file: "test/quant.test.ts", name: "the bench's integer probe > does every dot product it counts" },
      { file: "test/decoder.test.ts", name: "GQA > rotated keys — skipped: slim attention needs n_kv_heads == n_heads" },
    ];
    expect(skipSummary(run, /kernels \(simd\) quantizes/)).toEqual([
      "skipped 2 tests:",
      "    1 × no reason given: Q8_0 kernels (simd) > quantizes activations (test/quant.test.ts)",
      "    1 × slim attention needs n_kv_heads == n_heads (test/decoder.test.ts)",
      "none of them needs a package: they do not apply to their case",
      "2 tests not selected by -t /kernels \\(simd\\) quantizes/",
    ]);
    expect(skipSummary(run.slice(0, 3), /no such test/)).toEqual(["3 tests not selected by -t /no such test/"]);
  });
});
