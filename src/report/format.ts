/**
 * Report formatting: HTML escaping and the self-contained page. The number, duration and size formatters live in
 * format/numbers.ts (the training display and data errors use them too); they are re-exported here so that the
 * commands' `report/format.js` imports keep working.
 */
export {
  formatInteger,
  formatNumber,
  formatFixed,
  formatDuration,
  formatSeconds,
  formatBytes,
  formatPercent,
} from '../format/numbers.js';

/** Escapes text for HTML and XML (element content and attribute values). */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/** A self-contained HTML page: inline CSS, no external resources. `body` is the markup inside <main>. */
export function htmlDocument(title: string, css: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${css}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
