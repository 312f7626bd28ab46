// Markdown rendering of the phase tables printed at the end of a run.

export interface Table {
  headers: string[];
  rows: (string | number)[][];
}

export interface PhaseReport {
  title: string;
  table: Table;
  notes?: string[];
}

export const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "—");
export const ratio = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "—");
export const kib = (bytes: number) => (bytes / 1024).toFixed(1);
export const cu = (value: number) => (Number.isFinite(value) ? String(Math.round(value * 100) / 100) : "—");
export const verdict = (met: boolean) => (met ? "met" : "missed");

export function markdownTable(table: Table): string {
  const cell = (value: string | number) => String(value).replaceAll("|", "\\|");
  const lines = [
    `| ${table.headers.map(cell).join(" | ")} |`,
    `| ${table.headers.map(() => "---").join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
  return lines.join("\n");
}

export function markdownPhase(report: PhaseReport): string {
  const notes = report.notes?.length ? `\n\n${report.notes.map((n) => `- ${n}`).join("\n")}` : "";
  return `### ${report.title}\n\n${markdownTable(report.table)}${notes}\n`;
}

/** What a phase hands back: its table for stdout and its figures for results.json. */
export interface PhaseOutcome {
  report: PhaseReport;
  data: Record<string, unknown>;
}
