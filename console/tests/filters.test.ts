import { describe, expect, it } from "vitest";
import { listCaption } from "../src/components/Filters";

describe("listCaption", () => {
  it("counts, pluralises and says when a next page exists", () => {
    expect(listCaption(1, "break", false, "oldest first")).toBe("1 break, oldest first");
    expect(listCaption(0, "open dead letter", false, "newest first")).toBe("0 open dead letters, newest first");
    expect(listCaption(25, "break", true, "oldest first")).toBe("25 breaks (more on the next page), oldest first");
  });
});
