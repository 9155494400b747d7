import { createElement as h } from "react";

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | undefined)[];
}

/**
 * A small live line chart drawn as SVG: one polyline per series over the same x steps, the y axis from 0
 * to the largest value (at least `minimumMax`); a missing value breaks its line.
 */
export function LineChart(props: { title: string; unit: string; series: ChartSeries[]; minimumMax?: number; width?: number; height?: number }) {
  const width = props.width ?? 360;
  const height = props.height ?? 120;
  const pad = { left: 40, right: 8, top: 8, bottom: 16 };
  const steps = Math.max(2, ...props.series.map((s) => s.values.length));
  let max = props.minimumMax ?? 1;
  for (const s of props.series) for (const v of s.values) if (v !== undefined && v > max) max = v;
  const x = (i: number) => pad.left + (i * (width - pad.left - pad.right)) / (steps - 1);
  const y = (v: number) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const lines = props.series.map((s) => {
    const segments: string[][] = [[]];
    s.values.forEach((v, i) => {
      if (v === undefined) segments.push([]);
      else segments[segments.length - 1].push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    return segments
      .filter((points) => points.length > 0)
      .map((points, i) => {
        // A lone sample (the first one, or between gaps) is a dot: a one-point line draws nothing.
        if (points.length === 1) {
          const [cx, cy] = points[0].split(",");
          return h("circle", { key: `${s.label}-${i}`, cx, cy, r: 2.5, fill: s.color });
        }
        return h("polyline", { key: `${s.label}-${i}`, points: points.join(" "), fill: "none", stroke: s.color, strokeWidth: 2 });
      });
  });
  const latest = props.series.map((s) => {
    const last = [...s.values].reverse().find((v) => v !== undefined);
    return h("span", { key: s.label, className: "legend", style: { color: s.color } }, `${s.label}: ${last === undefined ? "–" : format(last)} ${props.unit}`);
  });
  return h(
    "figure",
    { className: "chart", "data-chart": props.title },
    h("figcaption", null, props.title, " ", latest),
    h(
      "svg",
      { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": props.title },
      h("line", { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), stroke: "#bbb" }),
      h("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: y(0), stroke: "#bbb" }),
      h("text", { x: pad.left - 4, y: pad.top + 8, textAnchor: "end", fontSize: 10, fill: "#666" }, format(max)),
      h("text", { x: pad.left - 4, y: y(0), textAnchor: "end", fontSize: 10, fill: "#666" }, "0"),
      lines,
    ),
  );
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
