import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule } from "./index.js";

function outcome(rule: string, self: unknown = null) {
  const c = compileCelRule({ rule });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, self);
}

function expectTrue(...rules: string[]): void {
  for (const rule of rules) expect(outcome(rule), rule).toEqual({ ok: true });
}

function expectFalse(...rules: string[]): void {
  for (const rule of rules) expect(outcome(rule), rule).toEqual({ ok: false, message: `failed rule: ${rule}` });
}

function expectError(rule: string, contains: string): void {
  const o = outcome(rule);
  expect("evalError" in o ? o.evalError : JSON.stringify(o), rule).toContain(contains);
}

describe("IP library", () => {
  it("isIP accepts plain IPv4/IPv6 and rejects what Kubernetes rejects", () => {
    expectTrue("isIP('192.168.0.1')", "isIP('::1')", "isIP('2001:db8::abcd')", "isIP('::1.2.3.4')");
    expectFalse(
      "isIP('::ffff:1.2.3.4')",
      "isIP('fe80::1%eth0')",
      "isIP('127.0.0.256')",
      "isIP('01.2.3.4')",
      "isIP(':::1')",
      "isIP('1.2.3')",
      "isIP('example.com')",
      "isIP('')",
    );
  });

  it("ip() errors on invalid, mapped or zoned addresses", () => {
    expectError("ip('::ffff:1.2.3.4').family() == 6", 'IPv4-mapped IPv6 address "::ffff:1.2.3.4" is not allowed');
    expectError("ip('fe80::1%eth0').family() == 6", 'IP address "fe80::1%eth0" with zone value is not allowed');
    expectError("ip('127.0.0.256').family() == 4", "IPv4 field has value >255");
    expectError("ip('1.02.3.4').family() == 4", "leading zero");
  });

  it("family, classification and string()", () => {
    expectTrue(
      "ip('127.0.0.1').family() == 4 && ip('::1').family() == 6",
      "ip('0.0.0.0').isUnspecified() && ip('::').isUnspecified() && !ip('::1').isUnspecified()",
      "ip('127.0.0.1').isLoopback() && ip('::1').isLoopback() && !ip('192.168.0.1').isLoopback()",
      "ip('224.0.0.1').isLinkLocalMulticast() && ip('ff02::1').isLinkLocalMulticast()",
      "!ip('224.0.1.1').isLinkLocalMulticast() && !ip('fd00::1').isLinkLocalMulticast()",
      "ip('169.254.169.254').isLinkLocalUnicast() && ip('fe80::1').isLinkLocalUnicast() && !ip('fd80::1').isLinkLocalUnicast()",
      "ip('192.168.0.1').isGlobalUnicast() && ip('2001:db8::abcd').isGlobalUnicast()",
      "!ip('255.255.255.255').isGlobalUnicast() && !ip('ff00::1').isGlobalUnicast() && !ip('0.0.0.0').isGlobalUnicast()",
      "string(ip('2001:DB8:0:0:0::1')) == '2001:db8::1'",
      "ip('2001:db8::1') == ip('2001:DB8:0::1') && ip('10.0.0.1') != ip('10.0.0.2')",
      "type(ip('192.168.0.1')) == net.IP",
    );
  });

  it("ip.isCanonical", () => {
    expectTrue("ip.isCanonical('127.0.0.1') && ip.isCanonical('2001:db8::abcd')");
    expectFalse("ip.isCanonical('2001:DB8::ABCD')", "ip.isCanonical('2001:db8::0:0:0:abcd')");
    expectError("ip.isCanonical('x')", "parse error");
  });
});

describe("CIDR library", () => {
  it("isCIDR and cidr() parse like netip.ParsePrefix", () => {
    expectTrue("isCIDR('192.168.0.0/24') && isCIDR('10.0.0.1/8') && isCIDR('::1/128')");
    expectFalse("isCIDR('192.168.0.0/33')", "isCIDR('192.168.0.0')", "isCIDR('192.168.0.0/024')", "isCIDR('::ffff:1.2.3.4/120')");
    expectError("cidr('1.2.3.4/40').prefixLength() == 40", "prefix length out of range");
  });

  it("containment, masking and accessors", () => {
    expectTrue(
      "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1')) && cidr('192.168.0.0/24').containsIP('192.168.0.255')",
      "!cidr('192.168.0.0/24').containsIP('192.168.1.1') && !cidr('192.168.0.0/24').containsIP('::1')",
      "cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25') && !cidr('192.168.0.0/25').containsCIDR('192.168.0.0/24')",
      "cidr('2001:db8::/32').containsCIDR(cidr('2001:db8::/33'))",
      "cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()",
      "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.1.2.3/8') != cidr('10.0.0.0/8')",
      "cidr('10.1.2.3/8').ip() == ip('10.1.2.3') && type(cidr('2001:db8::/32').ip()) == net.IP",
      "cidr('192.168.0.0/16').prefixLength() == 16 && cidr('::1/128').ip().family() == 6",
      "string(cidr('2001:DB8::/32')) == '2001:db8::/32'",
    );
    expectError("cidr('10.0.0.0/8').containsIP('::ffff:10.0.0.1')", "IPv4-mapped");
  });
});

describe("URL library", () => {
  it("isURL accepts absolute URIs and absolute paths only", () => {
    expectTrue("isURL('https://user:pass@example.com:80/path?query=val#fragment')", "isURL('/path')", "isURL('oci://registry/img:tag')");
    expectFalse("isURL('https://a:b:c/')", "isURL('../relative-path')", "isURL('registry.io/img')", "isURL('')", "isURL('http://[::1')");
  });

  it("url() errors for invalid input", () => {
    expectError("url('../x').getScheme() == ''", 'URL parse error during conversion from string: parse "../x": invalid URI for request');
  });

  it("component accessors", () => {
    expectTrue(
      "url('/path').getScheme() == '' && url('https://example.com/').getScheme() == 'https'",
      "url('HTTPS://example.com/').getScheme() == 'https'",
      "url('https://example.com:80/').getHost() == 'example.com:80' && url('https://example.com/').getHost() == 'example.com'",
      "url('https://[::1]:80/').getHost() == '[::1]:80' && url('https://[::1]/').getHostname() == '::1'",
      "url('https://example.com:80/').getHostname() == 'example.com' && url('https://127.0.0.1/').getHostname() == '127.0.0.1'",
      "url('https://example.com:80/').getPort() == '80' && url('https://example.com/').getPort() == '' && url('/path').getPort() == ''",
      "url('https://example.com/path').getEscapedPath() == '/path' && url('https://example.com').getEscapedPath() == ''",
      "url('https://example.com/with space/').getEscapedPath() == '/with%20space/'",
      "url('https://example.com/a%2Fb').getEscapedPath() == '/a%2Fb'",
      "url('https://example.com/path?k1=a&k2=b&k2=c').getQuery() == {'k1': ['a'], 'k2': ['b', 'c']}",
      "url('https://example.com/path?key with spaces=value with spaces').getQuery() == {'key with spaces': ['value with spaces']}",
      "url('https://example.com/path?a=1+2&b=%41').getQuery() == {'a': ['1 2'], 'b': ['A']}",
      "url('https://example.com/path?').getQuery() == {} && url('https://example.com/path').getQuery() == {}",
      "url('https://user:pass@kubernetes.io:80/docs/home?k1=a#anchor').getEscapedPath() == '/docs/home'",
    );
  });
});

describe("quantity library", () => {
  it("parses and compares quantities", () => {
    expectTrue(
      "isQuantity('20') && isQuantity('200M') && isQuantity('20Mi') && isQuantity('1e3') && isQuantity('-1.5')",
      "quantity('200M') == quantity('0.2G') && quantity('2000k') == quantity('2M')",
      "quantity('1Ki') == quantity('1024') && quantity('1e3') == quantity('1k')",
      "quantity('20').isLessThan(quantity('100M')) && quantity('200M').isGreaterThan(quantity('50M'))",
      "quantity('200M').compareTo(quantity('0.2G')) == 0 && quantity('1').compareTo(quantity('2')) == -1",
      "quantity('50k').add(quantity('20')) == quantity('50.02k') && quantity('50k').sub(quantity('20')) == quantity('49980')",
      "quantity('1').add(2) == quantity('3') && quantity('1').sub(2).sign() == -1",
      "quantity('0').sign() == 0 && quantity('5m').sign() == 1",
    );
    expectFalse("isQuantity('1.2.3')", "isQuantity('abc')", "isQuantity('1Kb')", "isQuantity('')", "isQuantity('1e')");
  });

  it("integer conversion", () => {
    expectTrue(
      "quantity('20').isInteger() && !quantity('1.5').isInteger() && !quantity('1m').isInteger()",
      "quantity('2k').asInteger() == 2000 && quantity('1Mi').asInteger() == 1048576",
      "quantity('1.5').asApproximateFloat() == 1.5 && quantity('100m').asApproximateFloat() == 0.1",
    );
    expectError("quantity('1.5').asInteger() == 1", "cannot convert value to integer");
    expectError("quantity('1Mk').sign() == 1", "unable to parse quantity's suffix");
    expectError("quantity('1x').sign() == 1", "quantities must match the regular expression");
  });
});

describe("optional values", () => {
  it("of, none and accessors", () => {
    expectTrue(
      "optional.of(1).hasValue() && !optional.none().hasValue()",
      "optional.of('v').value() == 'v' && optional.none().orValue('d') == 'd'",
      "optional.none().or(optional.of(2)).value() == 2",
      "optional.of(1) == optional.of(1) && optional.of(1) != optional.of(2) && optional.none() == optional.none()",
      "!optional.ofNonZeroValue('').hasValue() && optional.ofNonZeroValue([1]).hasValue()",
      "!optional.ofNonZeroValue(duration('0s')).hasValue() && !optional.ofNonZeroValue({}).hasValue()",
    );
    expectError("optional.none().value() == 1", "optional.none() dereference");
  });
});
