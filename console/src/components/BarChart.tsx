import { layout, type Bar } from "../overview/chart";

const WIDTH = 320;
const HEIGHT = 120;

/** A small SVG bar chart that needs no inline style (the console's CSP: style-src 'self'): geometry
 * is SVG attributes, colours are CSS classes. It is an image with a label for assistive technology,
 * and the same figures follow as a visually hidden table. */
export function BarChart({
  title,
  bars,
  format,
  testId,
}: {
  title: string;
  bars: Bar[];
  format: (value: bigint) => string;
  testId?: string;
}) {
  const placed = layout(bars, WIDTH, HEIGHT);
  const summary = `${title}: ${bars.map((b) => `${b.label} ${format(b.value)}`).join(", ")}`;
  return (
    <figure className="chart" data-testid={testId}>
      <svg role="img" aria-label={summary} viewBox={`0 0 ${WIDTH} ${HEIGHT + 1}`} className="chart-svg">
        <title>{title}</title>
        <line x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="chart-axis" />
        {placed.map((p) => (
          <rect key={p.key} x={p.x} y={p.y} width={p.width} height={p.height} className="chart-bar">
            <title>{`${p.label}: ${format(p.value)}`}</title>
          </rect>
        ))}
      </svg>
      <figcaption>{title}</figcaption>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <tbody>
          {bars.map((b) => (
            <tr key={b.key}>
              <th scope="row">{b.label}</th>
              <td>{format(b.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
