// A canonical text key for CEL values such that `a == b` in CEL implies equal keys
// for the value kinds that appear in validation rules. Used to give optional values
// a protobuf identity that compares like their payload.
import { isCelList, isCelMap, isCelType, isCelUint, type CelValue } from "@bufbuild/cel";
import { isReflectMessage } from "@bufbuild/protobuf/reflect";

function numberKey(n: number): string {
  if (Number.isInteger(n)) return `n:${BigInt(n)}`;
  return `d:${n}`;
}

export function canonicalKey(v: CelValue): string {
  switch (typeof v) {
    case "bigint":
      return `n:${v}`;
    case "number":
      return numberKey(v);
    case "string":
      return `s:${JSON.stringify(v)}`;
    case "boolean":
      return `b:${v}`;
  }
  if (v === null) return "null";
  if (isCelUint(v)) return `n:${v.value}`;
  if (v instanceof Uint8Array) return `y:${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  if (isCelList(v)) return `[${Array.from(v, canonicalKey).join(",")}]`;
  if (isCelMap(v)) {
    const entries = Array.from(v.entries(), ([k, val]) => `${canonicalKey(k as CelValue)}=${canonicalKey(val)}`);
    return `{${entries.sort().join(",")}}`;
  }
  if (isCelType(v)) return `t:${v.name}`;
  if (isReflectMessage(v)) {
    const fields = v.desc.fields.map((f) => `${f.name}:${String(v.get(f))}`);
    return `m:${v.desc.typeName}(${fields.join(",")})`;
  }
  return `?:${String(v)}`;
}
