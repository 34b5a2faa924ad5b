/** Durations on the command line (`--window 5m`, `--exec-timeout 15m`). */
import { UsageError } from "../errors.js";

/** "5m", "30s", "1h30m", "2d", "90" (seconds) → seconds; throws UsageError naming the flag. */
export function parseDurationS(text: string, flag: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let used = 0;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as const;
  while ((m = re.exec(t))) {
    total += Number(m[1]) * unit[m[2] as keyof typeof unit];
    used = re.lastIndex;
  }
  if (used !== t.length || t.length === 0 || total <= 0) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 30s, 5m, 6h)`);
  return total;
}
