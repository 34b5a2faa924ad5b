/**
 * A YAML configuration document with positions: syntax errors with their line and column, and the position
 * of any path into the document (the deepest node that exists along it), so schema errors from zod can name
 * the line. Shared by meshops.yaml and meshsim's configuration.
 */
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";

export interface PositionedYaml {
  doc: Document.Parsed;
  /** Syntax errors (duplicate keys included), each with its position. */
  errors: { line: number; col: number; message: string }[];
  /** Line and column of the deepest existing node along `path` (a key's own position for map entries). */
  pos(path: readonly PropertyKey[]): { line: number; col: number };
}

export function parsePositioned(text: string): PositionedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const errors = doc.errors.map((e) => {
    const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    return { line: p.line, col: p.col, message: `${e.code === "DUPLICATE_KEY" ? "duplicate key" : "malformed YAML"}: ${e.message.split("\n")[0]}` };
  });
  const pos = (path: readonly PropertyKey[]): { line: number; col: number } => {
    let node: unknown = doc.contents;
    let best = { line: 1, col: 1 };
    for (const seg of path) {
      if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item?.range) break;
        best = lc.linePos(item.range[0]);
        node = item;
        continue;
      }
      if (!isMap(node)) break;
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      const k = pair.key as YamlNode;
      if (k.range) best = lc.linePos(k.range[0]);
      node = pair.value;
    }
    return best;
  };
  return { doc, errors, pos };
}
