// The bench's report reads right: a warning when the probe or the runs show a loaded machine, and a chart
// whose series all look different, with x ticks at the measured positions. (The bench itself is `npm run
// bench`; nothing here times anything.)
import { describe, it, expect } from "vitest";
import { loadWarnings } from "../tools/bench.ts";
import { chartSvg } from "../tools/bench/chart.ts";

const quiet = { probeRead: [25, 25.5, 24.8], dotPeak: [6, 6.1, 5.9], systems: [{ name: "a", rates: [100, 102, 99] }], load: [0.3, 0.6], cpus: 2 };

describe("bench report", () => {
  it("warns when the machine was loaded, and not when it was quiet", () => {
    expect(loadWarnings(quiet)).toEqual([]);
    expect(loadWarnings({ ...quiet, probeRead: [25, 11, 24] })[0]).toMatch(/^memory probe: a run at 11\.0, below half the best run's 25\.0/);
    expect(loadWarnings({ ...quiet, dotPeak: [6, 4.4, 6] })[0]).toMatch(/^integer probe: runs spread 27 % \(over 20 %\)/);
    expect(loadWarnings({ ...quiet, systems: [{ name: "slimedge slim q8_0 simd", rates: [130, 100, 110] }] })[0]).toMatch(/^tok\/s spread over 20 % between runs: slimedge slim q8_0 simd 27 %/);
    expect(loadWarnings({ ...quiet, load: [0.2, 3.5] })).toEqual(["load average 3.50 on 2 logical CPUs (other work was running)"]);
  });

  it("the chart gives every series its own look and puts ticks at the measured positions", () => {
    const series = Array.from({ length: 24 }, (_, i) => ({ name: `s${i}`, points: [[0, i], [4096, i + 1]] as [number, number][], dashed: i % 5 === 0 }));
    const svg = chartSvg("t", series, [64, 256, 1024, 4096]);
    const looks = [...svg.matchAll(/<path d="[^"]*" fill="none" stroke="([^"]+)" stroke-width="2"(?: stroke-dasharray="([^"]+)")? data-series="([^"]+)"/g)].map((m) => `${m[1]} ${m[2] ?? ""}`);
    expect(looks).toHaveLength(24);
    expect(new Set(looks).size).toBe(24);
    const ticks = [...svg.matchAll(/<text x="[\d.]+" y="\d+" text-anchor="middle">(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(ticks).toEqual([64, 256, 1024, 4096]);
  });
});
