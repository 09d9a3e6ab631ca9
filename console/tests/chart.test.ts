import { describe, expect, it } from "vitest";
import { currenciesOf, layout, maxOf, percent, scale, seriesByPartner } from "../src/overview/chart";

describe("chart scaling", () => {
  it("scales by an exact bigint ratio, beyond 2^53 too", () => {
    expect(scale(50n, 100n, 120)).toBe(60);
    expect(scale(0n, 100n, 120)).toBe(0);
    expect(scale(5n, 0n, 120)).toBe(0);
    expect(scale(-5n, 10n, 120)).toBe(0);
    const huge = 2n ** 70n;
    expect(scale(huge / 2n, huge, 100)).toBe(50);
    expect(scale(huge + 1n, huge, 100)).toBe(100); // clamped
  });

  it("lays out bars on the axis, the tallest full height", () => {
    const bars = layout(
      [
        { key: "a", label: "a", value: 10n },
        { key: "b", label: "b", value: 40n },
      ],
      100,
      80,
    );
    expect(bars.map((b) => [b.x, b.height, b.y])).toEqual([
      [1, 20, 60],
      [51, 80, 0],
    ]);
    expect(layout([], 100, 80)).toEqual([]);
    expect(maxOf([-1n, -3n])).toBe(0n);
  });
});

describe("volume bucketing", () => {
  const days = [
    { date: "2026-11-27", partners: [{ partner: "stripe", currency: "USD", count: 1, gross: 100 }] },
    {
      date: "2026-11-28",
      partners: [
        { partner: "adyen", currency: "EUR", count: 2, gross: "9007199254740993" },
        { partner: "stripe", currency: "USD", count: 1, gross: 250 },
      ],
    },
  ];

  it("gives every partner a bar per day, zero where it had none", () => {
    expect([...seriesByPartner(days, "USD")]).toEqual([
      ["stripe", [
        { key: "2026-11-27", label: "2026-11-27", value: 100n },
        { key: "2026-11-28", label: "2026-11-28", value: 250n },
      ]],
    ]);
    const eur = seriesByPartner(days, "EUR").get("adyen");
    expect(eur?.map((b) => b.value)).toEqual([0n, 9007199254740993n]);
    expect(currenciesOf(days)).toEqual(["EUR", "USD"]);
  });

  it("shows delivery success as a floor percentage", () => {
    expect(percent(2, 3)).toBe(66);
    expect(percent(0, 0)).toBeNull();
    expect(percent(5, 5)).toBe(100);
  });
});
