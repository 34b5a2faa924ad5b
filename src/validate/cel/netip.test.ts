import { describe, it, expect } from "vitest";
import { formatAddr, formatPrefix, is4In6, parseAddr, parsePrefix, prefixContains, prefixMasked, prefixOverlaps } from "./netip.js";

describe("parseAddr (Go netip.ParseAddr)", () => {
  it("parses and canonicalizes IPv6 per RFC 5952", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["2001:DB8::1", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["0:0:0:1::", "0:0:0:1::"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["::1.2.3.4", "::102:304"],
      ["fe80::1%eth0", "fe80::1%eth0"],
    ];
    for (const [input, canonical] of cases) expect(formatAddr(parseAddr(input)), input).toBe(canonical);
  });

  it("parses IPv4 strictly", () => {
    expect(formatAddr(parseAddr("192.168.0.1"))).toBe("192.168.0.1");
    expect(parseAddr("10.0.0.1").family).toBe(4);
    for (const [bad, msg] of [
      ["1.2.3.04", "leading zero"],
      ["1.2.3.256", ">255"],
      ["1.2.3", "too short"],
      ["1.2.3.4.5", "too long"],
      ["1..2.3", "at least one digit"],
      ["1.2.3.4 ", "unexpected character"],
      ["", "unable to parse IP"],
      ["%eth0", "missing IPv6 address"],
    ]) {
      expect(() => parseAddr(bad as string), bad).toThrow(msg as string);
    }
  });

  it("rejects malformed IPv6", () => {
    for (const [bad, msg] of [
      [":::1", "each colon-separated field must have at least one digit"],
      ["1::2::3", "multiple :: in address"],
      ["12345::1", "each group must have 4 or less digits"],
      ["1:2:3:4:5:6:7", "address string too short"],
      ["1:2:3:4:5:6:7:8:9", "trailing garbage"],
      ["1:2:3:4::5:6:7:8", "the :: must expand to at least one field of zeros"],
      ["fe80::1%", "zone must be a non-empty string"],
      ["1:2:3:4:5:6:1.2.3.4:1", "unexpected character"],
    ]) {
      expect(() => parseAddr(bad as string), bad).toThrow(msg as string);
    }
  });

  it("recognizes IPv4-mapped IPv6 addresses", () => {
    expect(is4In6(parseAddr("::ffff:1.2.3.4"))).toBe(true);
    expect(formatAddr(parseAddr("::ffff:102:304"))).toBe("::ffff:1.2.3.4");
    expect(is4In6(parseAddr("::1.2.3.4"))).toBe(false);
  });
});

describe("parsePrefix (Go netip.ParsePrefix)", () => {
  it("parses, masks and formats", () => {
    const p = parsePrefix("10.1.2.3/8");
    expect(p.prefixLength).toBe(8);
    expect(formatPrefix(p)).toBe("10.1.2.3/8");
    expect(formatPrefix(prefixMasked(p))).toBe("10.0.0.0/8");
    expect(formatPrefix(prefixMasked(parsePrefix("2001:db8:ffff::/33")))).toBe("2001:db8:8000::/33");
    expect(formatPrefix(prefixMasked(parsePrefix("1.2.3.4/0")))).toBe("0.0.0.0/0");
  });

  it("rejects bad prefixes", () => {
    for (const [bad, msg] of [
      ["10.0.0.0", "no '/'"],
      ["10.0.0.0/33", "prefix length out of range"],
      ["10.0.0.0/08", "bad bits after slash"],
      ["10.0.0.0/+8", "bad bits after slash"],
      ["10.0.0.0/", "bad bits after slash"],
      ["fe80::%eth0/64", "IPv6 zones cannot be present in a prefix"],
      ["10.0.0.256/8", "IPv4 field has value >255"],
    ]) {
      expect(() => parsePrefix(bad as string), bad).toThrow(msg as string);
    }
  });

  it("contains and overlaps only within one family", () => {
    const net = parsePrefix("192.168.0.0/24");
    expect(prefixContains(net, parseAddr("192.168.0.77"))).toBe(true);
    expect(prefixContains(net, parseAddr("192.168.1.1"))).toBe(false);
    expect(prefixContains(parsePrefix("::/0"), parseAddr("1.2.3.4"))).toBe(false);
    expect(prefixContains(parsePrefix("0.0.0.0/0"), parseAddr("1.2.3.4"))).toBe(true);
    expect(prefixOverlaps(net, parsePrefix("192.168.0.128/25"))).toBe(true);
    expect(prefixOverlaps(net, parsePrefix("192.168.1.0/24"))).toBe(false);
  });
});
