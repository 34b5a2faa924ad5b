import { describe, it, expect } from "vitest";
import { parseRequestURI, parseURL, urlEscapedPath, urlHostname, urlPort, urlQuery } from "./go-url.js";

describe("parseRequestURI (Go url.ParseRequestURI)", () => {
  it("accepts absolute URIs and absolute paths", () => {
    for (const ok of ["https://example.com", "/path", "*", "oci://reg/img:1", "mailto:user@example.com", "http://[::1]:8080/x", "//host/path"]) {
      expect(() => parseRequestURI(ok), ok).not.toThrow();
    }
  });

  it("rejects what Go rejects, with Go's messages", () => {
    const cases: [string, string][] = [
      ["", 'parse "": empty url'],
      ["relative/path", 'parse "relative/path": invalid URI for request'],
      ["https://a:b:c/", 'parse "https://a:b:c/": invalid port ":c" after host'],
      [":foo", 'parse ":foo": missing protocol scheme'],
      ["http://exa mple.com/", 'parse "http://exa mple.com/": invalid character " " in host name'],
      ["http://example.com/%zz", 'parse "http://example.com/%zz": invalid URL escape "%zz"'],
      ["http://[::1/", `parse "http://[::1/": missing ']' in host`],
      ["http://x\n", 'parse "http://x\\n": net/url: invalid control character in URL'],
      ["http://us er@host/", 'parse "http://us er@host/": net/url: invalid userinfo'],
      ["http://example.com#frag", 'parse "http://example.com#frag": invalid character "#" in host name'],
    ];
    for (const [input, msg] of cases) expect(() => parseRequestURI(input), input).toThrow(msg);
  });
});

describe("parseURL (Go url.Parse) and accessors", () => {
  it("splits scheme, user, host, path, query and fragment", () => {
    const u = parseURL("HTTPS://user:p%40ss@Example.com:8443/a%20b/c?x=1&y=2&x=3#frag%21");
    expect(u.scheme).toBe("https");
    expect(u.user).toEqual({ username: "user", password: "p@ss" });
    expect(u.host).toBe("Example.com:8443");
    expect(urlHostname(u)).toBe("Example.com");
    expect(urlPort(u)).toBe("8443");
    expect(u.path).toBe("/a b/c");
    expect(urlEscapedPath(u)).toBe("/a%20b/c");
    expect(u.fragment).toBe("frag!");
    expect(Object.fromEntries(urlQuery(u))).toEqual({ x: ["1", "3"], y: ["2"] });
  });

  it("keeps the original escaping of the path when it is valid", () => {
    expect(urlEscapedPath(parseURL("http://h/a%2Fb"))).toBe("/a%2Fb");
    expect(urlEscapedPath(parseURL("http://h/ü"))).toBe("/%C3%BC");
  });

  it("treats rootless paths after a scheme as opaque", () => {
    const u = parseURL("mailto:user@example.com");
    expect(u.opaque).toBe("user@example.com");
    expect(u.host).toBe("");
  });

  it("skips malformed query pairs", () => {
    expect(Object.fromEntries(urlQuery(parseURL("http://h/?a=%zz&b=1&c;d=2&&e")))).toEqual({ b: ["1"], e: [""] });
  });

  it("rejects a colon in the first segment of a relative reference", () => {
    expect(() => parseURL("a:b/c")).not.toThrow();
    expect(() => parseURL("1a:b")).toThrow("first path segment in URL cannot contain colon");
  });
});
