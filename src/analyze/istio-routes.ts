/** Istio routing rules: weights that do not add up, rules a catch-all makes unreachable. */
import { asArr, asObj } from "../model/core.js";
import type { IstioHttpRoute } from "../model/istio.js";
import type { Finding } from "../report/finding.js";
import { findingAt, type Analyzer } from "./analyzer.js";

/** MSH2004: Route weights do not add up to 100. */
export const weightsNotHundred: Analyzer = {
  code: "MSH2004",
  severity: "warning",
  title: "Route weights do not add up to 100",
  explanation:
    "The destinations of a VirtualService route have weights that do not add up to 100. Istio documents weights as percentages that should total 100; current versions divide each weight by the sum, older ones reject the object, and a reader of the file cannot tell which split was meant (a canary step that says 90 and 20 sends 82% and 18%). Make the weights add up to 100, or leave the weight out when there is only one destination.",
  run(model) {
    const out: Finding[] = [];
    for (const vs of model.istio.virtualServices) {
      const spec = asObj(vs.source.manifest.object.spec);
      for (const kind of ["http", "tcp", "tls"] as const) {
        asArr(spec[kind]).forEach((r, i) => {
          const dests = asArr(asObj(r).route).map(asObj);
          if (dests.length < 2) return;
          const sum = dests.reduce((a, d) => a + (typeof d.weight === "number" ? d.weight : 0), 0);
          if (sum !== 100) out.push(findingAt(this, { manifest: vs.source.manifest, path: ["spec", kind, i, "route"] }, `the weights of ${kind}[${i}]'s ${dests.length} destinations add up to ${sum}, not 100`));
        });
      }
    }
    return out;
  },
};

/** A match list that matches every request: absent, empty, or containing an empty match block. */
function isCatchAll(match: Record<string, unknown>[] | undefined): boolean {
  return match === undefined || match.length === 0 || match.some((m) => Object.keys(m).filter((k) => k !== "name").length === 0);
}

/** Where a rule sends traffic, as a comparable string. */
function routeKey(r: IstioHttpRoute): string {
  return JSON.stringify(r.destinations.map((d) => [d.host, d.subset ?? "", d.port ?? 0, d.weight ?? 0]));
}

/** MSH2005: VirtualService rule unreachable after a catch-all rule. */
export const unreachableRule: Analyzer = {
  code: "MSH2005",
  severity: "error",
  istio: "IST0130",
  title: "VirtualService rule unreachable after a catch-all rule",
  explanation:
    "Istio evaluates a VirtualService's http rules in order and uses the first that matches. A rule without a match (or with an empty match block) matches every request, so every rule after it is never used: the header-based canary or the /api route below it silently does nothing. Move the catch-all rule to the end, or give it a match. A shadowed rule that routes exactly like the catch-all loses nothing and is reported as a warning.",
  run(model) {
    const out: Finding[] = [];
    for (const vs of model.istio.virtualServices) {
      const first = vs.http.findIndex((r) => isCatchAll(r.match));
      if (first < 0) continue;
      const catchAll = vs.http[first];
      for (const r of vs.http.slice(first + 1)) {
        // A shadowed rule that routes exactly like the catch-all changes nothing (Istio's own fault-injection
        // sample has one): dead configuration, a warning. One that routes elsewhere is traffic silently lost.
        const same = catchAll !== undefined && routeKey(r) === routeKey(catchAll);
        out.push(
          findingAt(this, r.source, `http[${r.index}] is never used: http[${first}] has no match and catches every request (only the last rule should have none)${same ? "; it routes like http[" + String(first) + "], so nothing is lost" : ""}`, same ? { severity: "warning" } : {}),
        );
      }
    }
    return out;
  },
};
