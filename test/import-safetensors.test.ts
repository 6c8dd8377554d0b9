import { describe, expect, it } from "vitest";
import { readSafetensors } from "../tools/convert/safetensors.ts";
import { encode, writeSafetensors, type StTensor } from "./fixtures/safetensors-writer.ts";
import { slimError } from "./helpers.ts";

const f32 = (name: string, shape: number[], values: number[]): StTensor => ({ name, dtype: "F32", shape, data: encode(Float32Array.from(values), "F32").data });
const rawU16 = (values: number[]) => new Uint8Array(Uint16Array.from(values).buffer);

/** A file whose header is exactly `json` followed by `buffer` bytes, bypassing the writer. */
function rawFile(json: string, bufferBytes = 0, declared?: bigint): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + bufferBytes);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

describe("readSafetensors", () => {
  it("reads names, shapes, metadata and F32 values exactly", () => {
    const bytes = writeSafetensors([f32("a", [2, 3], [1, 2, 3, 4, 5, 6]), f32("b.bias", [3], [-1.5, 0, 1e-30])], { metadata: { format: "pt" } });
    const st = readSafetensors(bytes, "m.safetensors");
    expect(st.metadata).toEqual({ format: "pt" });
    expect([...st.entries.keys()]).toEqual(["a", "b.bias"]);
    expect(st.entry("a").shape).toEqual([2, 3]);
    expect(st.f32("a")).toEqual(Float32Array.of(1, 2, 3, 4, 5, 6));
    expect(st.f32("b.bias")).toEqual(Float32Array.of(-1.5, 0, Math.fround(1e-30)));
  });

  it("converts F16 bit patterns exactly: normals, subnormals, signed zero, limits, infinities", () => {
    const bits = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00];
    const want = [1, -2, 0.333251953125, 65504, 2 ** -14, 2 ** -24, 1023 * 2 ** -24, -0, Infinity, -Infinity];
    const st = readSafetensors(writeSafetensors([{ name: "h", dtype: "F16", shape: [bits.length], data: rawU16(bits) }]), "h.safetensors");
    expect([...st.f32("h")]).toEqual(want);
    const nan = readSafetensors(writeSafetensors([{ name: "n", dtype: "F16", shape: [1], data: rawU16([0x7e00]) }]), "n.safetensors");
    expect(nan.f32("n")[0]).toBeNaN();
  });

  it("converts BF16 as the top half of an f32", () => {
    const bits = [0x3f80, 0xc040, 0x3eab, 0x0001, 0x7f80];
    const want = [1, -3, 0.333984375, 2 ** -133, Infinity];
    const st = readSafetensors(writeSafetensors([{ name: "b", dtype: "BF16", shape: [5], data: rawU16(bits) }]), "b.safetensors");
    expect([...st.f32("b")]).toEqual(want);
  });

  it("agrees with the fixture's own f16 and bf16 rounding on random values", () => {
    const values = Float32Array.from({ length: 500 }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 11) - 6));
    for (const dtype of ["F16", "BF16"] as const) {
      const { data, stored } = encode(values, dtype);
      const st = readSafetensors(writeSafetensors([{ name: "x", dtype, shape: [500], data }]), "x.safetensors");
      expect(st.f32("x"), dtype).toEqual(stored);
    }
  });

  it("accepts a scalar and an empty tensor", () => {
    const st = readSafetensors(writeSafetensors([f32("s", [], [7]), f32("e", [0, 4], [])]), "s.safetensors");
    expect(st.f32("s")).toEqual(Float32Array.of(7));
    expect(st.f32("e")).toHaveLength(0);
  });

  describe("broken files", () => {
    const good = () => writeSafetensors([f32("w", [2, 2], [1, 2, 3, 4]), f32("b", [2], [5, 6])]);

    it("a file shorter than the length field", () => {
      expect(slimError(() => readSafetensors(new Uint8Array(5), "t.safetensors"), "E_FORMAT").message).toMatch(/^t\.safetensors: file is 5 bytes, too short for the 8-byte header length/);
    });

    it("a header length past the end of the file", () => {
      const e = slimError(() => readSafetensors(rawFile("{}", 0, 1000n), "t.safetensors"), "E_FORMAT");
      expect(e.message).toMatch(/t\.safetensors: header length field says 1000 bytes of JSON, but only 2 bytes follow it/);
    });

    it("a huge u64 header length (not a safetensors file)", () => {
      const e = slimError(() => readSafetensors(rawFile("{}", 0, 0xffffffffffffffffn), "t.safetensors"), "E_FORMAT");
      expect(e.message).toMatch(/header length field says 18446744073709551615 bytes/);
    });

    it("truncated inside the data buffer", () => {
      const bytes = good();
      const e = slimError(() => readSafetensors(bytes.subarray(0, bytes.length - 3), "t.safetensors"), "E_FORMAT");
      expect(e.message).toMatch(/t\.safetensors: tensor b has data_offsets \[16, 24\], past the 21-byte data buffer/);
    });

    it("header JSON that does not parse", () => {
      expect(slimError(() => readSafetensors(rawFile('{"w": {"dtype": '), "t.safetensors"), "E_FORMAT").message).toMatch(/t\.safetensors: the 16-byte JSON header does not parse/);
    });

    it("a header that is not an object", () => {
      expect(slimError(() => readSafetensors(rawFile("[1, 2]"), "t.safetensors"), "E_FORMAT").message).toMatch(/JSON header is an array, expected an object of tensors/);
    });

    it("an unknown dtype", () => {
      const bytes = writeSafetensors([{ ...f32("w", [2], [1, 2]), dtype: "F12" }]);
      expect(slimError(() => readSafetensors(bytes, "t.safetensors"), "E_FORMAT").message).toMatch(/tensor w has dtype "F12", not one the format defines/);
    });

    it("a dtype whose size disagrees with the byte range", () => {
      const bytes = writeSafetensors([{ ...f32("w", [2, 2], [1, 2, 3, 4]), dtype: "F16" }]);
      const e = slimError(() => readSafetensors(bytes, "t.safetensors"), "E_FORMAT");
      expect(e.message).toBe("t.safetensors: tensor w has data_offsets [0, 16] (16 bytes), but dtype F16 and shape [2, 2] need 8 bytes.");
    });

    it("a shape that disagrees with the byte range", () => {
      const bytes = writeSafetensors([f32("w", [2, 2], [1, 2, 3, 4])], { editHeader: (h) => ((h.w as { shape: number[] }).shape = [3, 2]) });
      expect(slimError(() => readSafetensors(bytes, "t.safetensors"), "E_FORMAT").message).toMatch(/tensor w .* dtype F32 and shape \[3, 2\] need 24 bytes/);
    });

    it("malformed shape and offsets", () => {
      const badShape = writeSafetensors([f32("w", [2], [1, 2])], { editHeader: (h) => ((h.w as { shape: unknown }).shape = [-2]) });
      expect(slimError(() => readSafetensors(badShape, "t.safetensors"), "E_FORMAT").message).toMatch(/tensor w has shape \[-2\], expected a list of non-negative integers/);
      const badOffsets = writeSafetensors([f32("w", [2], [1, 2])], { editHeader: (h) => ((h.w as { data_offsets: unknown }).data_offsets = [8, 0]) });
      expect(slimError(() => readSafetensors(badOffsets, "t.safetensors"), "E_FORMAT").message).toMatch(/tensor w has data_offsets \[8,0\], expected \[begin, end\] with 0 <= begin <= end/);
    });

    it("overlapping tensors", () => {
      const bytes = writeSafetensors([f32("w", [2, 2], [1, 2, 3, 4]), f32("b", [2], [5, 6])], {
        editHeader: (h) => ((h.b as { data_offsets: number[] }).data_offsets = [8, 16]),
      });
      const e = slimError(() => readSafetensors(bytes, "t.safetensors"), "E_FORMAT");
      expect(e.message).toMatch(/tensor b has data_offsets \[8, 16\], overlapping tensor w, which ends at 16/);
    });

    it("a hole between tensors, and bytes after the last one", () => {
      const hole = writeSafetensors([f32("w", [2], [1, 2]), f32("b", [2], [5, 6])], {
        editHeader: (h) => {
          (h.w as { data_offsets: number[] }).data_offsets = [0, 8];
          (h.b as { data_offsets: number[]; shape: number[] }).data_offsets = [12, 16];
          (h.b as { shape: number[] }).shape = [1];
        },
      });
      expect(slimError(() => readSafetensors(hole, "t.safetensors"), "E_FORMAT").message).toMatch(/tensor b has data_offsets \[12, 16\], leaving a hole of 4 bytes after tensor w/);
      const trailing = writeSafetensors([f32("w", [2], [1, 2])], { editHeader: (h) => ((h.w as { data_offsets: number[]; shape: number[] }).shape = [1], ((h.w as { data_offsets: number[] }).data_offsets = [0, 4])) });
      expect(slimError(() => readSafetensors(trailing, "t.safetensors"), "E_FORMAT").message).toMatch(/tensors end at data offset 4, but the data buffer holds 8 bytes/);
    });

    it("metadata that is not a string map", () => {
      const bytes = writeSafetensors([f32("w", [1], [1])], { editHeader: (h) => (h.__metadata__ = { n: 3 }) });
      expect(slimError(() => readSafetensors(bytes, "t.safetensors"), "E_FORMAT").message).toMatch(/header field __metadata__ must map strings to strings/);
    });

    it("a valid integer tensor is refused only when asked for as floats", () => {
      const st = readSafetensors(writeSafetensors([{ name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(16) }]), "t.safetensors");
      expect(slimError(() => st.f32("ids"), "E_MODEL").message).toBe("t.safetensors: tensor ids has dtype I64, but only float tensors (F32, F16, BF16) can be imported.");
    });
  });
});
