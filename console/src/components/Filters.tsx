import type { ReactNode } from "react";

/** A list page's filter form: its fields, and the partner text field applied on Enter or leaving it. */
export function FilterForm({
  label,
  setPartner,
  children,
}: {
  label: string;
  setPartner: (value: string) => void;
  children: ReactNode;
}) {
  return (
    <form
      className="filters"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        setPartner(String(new FormData(e.currentTarget).get("partner") ?? "").trim());
      }}
    >
      {children}
    </form>
  );
}

/** One choice among `options`; `anyLabel` (when given) is the empty choice: no filter. */
export function SelectFilter({
  label,
  value,
  onChange,
  options,
  anyLabel,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: readonly string[];
  anyLabel?: string;
}) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {anyLabel !== undefined && <option value="">{anyLabel}</option>}
        {options.map((o) => (
          <option key={o} value={o}>
            {o.replace("_", " ")}
          </option>
        ))}
      </select>
    </label>
  );
}

export function PartnerFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  return (
    <label>
      Partner
      <input name="partner" defaultValue={value} onBlur={(e) => onChange(e.target.value.trim())} placeholder="e.g. stripe" />
    </label>
  );
}

/** "3 open dead letters (more on the next page), newest first". */
export function listCaption(count: number, noun: string, hasMore: boolean, order: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}${hasMore ? " (more on the next page)" : ""}, ${order}`;
}
