/** Pure geometry for the overview's SVG bar charts (components/BarChart.tsx).
 *
 * Amounts stay bigint end to end; Number appears only here, for pixel scaling: a bar's height is
 * value / max × the chart's height, computed as a bigint ratio in parts per PRECISION and only then
 * turned into a Number of pixels. A displayed amount never goes through this module. */
import { toMinor, type MinorUnits } from "../money/money";

const PRECISION = 10_000n; // height resolution: 1/10,000 of the plot

export interface Bar {
  key: string;
  label: string;
  value: bigint;
}

export interface Placed extends Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The largest value (0n for none or only negatives: bars are never drawn below the axis). */
export function maxOf(values: bigint[]): bigint {
  return values.reduce((max, v) => (v > max ? v : max), 0n);
}

/** A value's pixel height on a plot `height` pixels tall whose top is `max`. */
export function scale(value: bigint, max: bigint, height: number): number {
  if (max <= 0n || value <= 0n) return 0;
  const clamped = value > max ? max : value;
  const parts = (clamped * PRECISION) / max; // exact bigint, 0..PRECISION
  return (Number(parts) / Number(PRECISION)) * height;
}

/** Bars side by side across `width`, bottoms on the axis at `height`, with a gap of `gap` px. */
export function layout(bars: Bar[], width: number, height: number, gap = 2): Placed[] {
  if (bars.length === 0) return [];
  const max = maxOf(bars.map((b) => b.value));
  const slot = width / bars.length;
  const barWidth = Math.max(1, slot - gap);
  return bars.map((bar, i) => {
    const h = scale(bar.value, max, height);
    return { ...bar, x: i * slot + gap / 2, y: height - h, width: barWidth, height: h };
  });
}

export interface VolumeRow {
  partner: string;
  currency: string;
  count: number;
  gross: MinorUnits;
}

export interface VolumeDay {
  date: string;
  partners: VolumeRow[];
}

/** One series per partner of a currency: [date, gross bigint] for every day (0n where none). */
export function seriesByPartner(days: VolumeDay[], currency: string): Map<string, Bar[]> {
  const partners = [...new Set(days.flatMap((d) => d.partners.filter((p) => p.currency === currency).map((p) => p.partner)))].sort();
  const out = new Map<string, Bar[]>();
  for (const partner of partners) {
    out.set(
      partner,
      days.map((d) => {
        const row = d.partners.find((p) => p.partner === partner && p.currency === currency);
        return { key: d.date, label: d.date, value: row ? toMinor(row.gross) : 0n };
      }),
    );
  }
  return out;
}

/** The currencies that moved in the window, sorted. */
export function currenciesOf(days: VolumeDay[]): string[] {
  return [...new Set(days.flatMap((d) => d.partners.map((p) => p.currency)))].sort();
}

/** Delivery success as a whole percentage, floor (never a float shown): null with no attempts. */
export function percent(succeeded: number, attempts: number): number | null {
  if (attempts <= 0) return null;
  return Math.floor((succeeded * 100) / attempts);
}
