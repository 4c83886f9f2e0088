"""The widgets' stylesheet, shipped inside an HTML widget so it reaches every front end.

Colours come from JupyterLab's theme variables (so dark themes work) with light fallbacks
for front ends without them (Voila's default template, VS Code).
"""

from __future__ import annotations

import ipywidgets as widgets

CSS = """
.s3x-browser, .s3x-viewer, .s3x-uploader {
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #1f2328);
  --s3x-border: var(--jp-border-color2, #d0d7de);
  --s3x-soft: var(--jp-layout-color2, #f6f8fa);
  --s3x-muted: var(--jp-ui-font-color2, #656d76);
  --s3x-accent: var(--jp-brand-color1, #0969da);
  --s3x-mono: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
  max-width: 100%;
}
.s3x-style { display: none !important; }
.s3x-html .widget-html-content { line-height: 1.45; }
.s3x-card {
  border: 1px solid var(--s3x-border); border-radius: 8px; padding: 10px 12px;
  background: var(--jp-layout-color0, #fff); margin: 4px 0;
}
.s3x-toolbar { align-items: center; gap: 10px; margin-bottom: 6px; }
.s3x-filter { flex: 1 1 auto; width: auto !important; margin: 0 !important; }
.s3x-filter input { font-family: var(--s3x-mono); font-size: 12.5px; border-radius: 6px; }
.s3x-count { margin: 0 !important; white-space: nowrap; color: var(--s3x-muted); }
.s3x-count b { color: var(--jp-ui-font-color0, #1f2328); font-size: 14px; }
.s3x-count.s3x-stale, .s3x-count.s3x-stale b { color: var(--jp-error-color1, #cf222e); }
.s3x-error { color: var(--jp-error-color1, #cf222e); background: var(--jp-error-color3, #ffebe9);
  border: 1px solid var(--jp-error-color2, #ff8182); border-radius: 6px; padding: 6px 10px;
  margin: 4px 0; white-space: pre-wrap; }
.s3x-table { border: 1px solid var(--s3x-border); border-radius: 6px; overflow-x: auto;
  margin: 0 !important; }
.s3x-table > * { margin: 0 !important; }
.s3x-header { background: var(--s3x-soft); border-bottom: 1px solid var(--s3x-border);
  padding: 2px 10px; column-gap: 24px; }
.s3x-header .s3x-sort { width: 100% !important; margin: 0 !important; padding: 0 !important;
  background: transparent !important; box-shadow: none !important; border: none !important;
  font-weight: 600; text-align: left; height: 28px; color: var(--jp-ui-font-color1, #1f2328);
  overflow: hidden; text-overflow: ellipsis; }
.s3x-header .s3x-sort:hover { color: var(--s3x-accent); }
.s3x-header .s3x-sort.s3x-right { text-align: right; }
.s3x-row { position: relative; border-top: 1px solid var(--jp-border-color3, #eaeef2);
  cursor: pointer; }
.s3x-row:first-of-type { border-top: none; }
.s3x-row:hover { background: var(--s3x-soft); }
.s3x-row.s3x-selected { background: var(--jp-brand-color3, #ddf4ff);
  box-shadow: inset 3px 0 0 var(--s3x-accent); }
.s3x-row > * { margin: 0 !important; }
.s3x-row > .s3x-cellbox { flex: 1 1 auto; width: 100%; }
.s3x-cellbox .widget-html-content { width: 100%; }
.s3x-row .s3x-hit { position: absolute !important; top: 0; left: 0; width: 100% !important;
  height: 100% !important; opacity: 0; z-index: 1; cursor: pointer; }
.s3x-cells { display: grid; column-gap: 24px; padding: 5px 10px; align-items: center;
  line-height: 1.35; }
.s3x-cell { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.s3x-cell.s3x-right { text-align: right; font-variant-numeric: tabular-nums; }
.s3x-cell.s3x-keycell { font-family: var(--s3x-mono); font-size: 12px;
  color: var(--s3x-accent); }
.s3x-nothing { padding: 14px 10px; color: var(--s3x-muted); font-style: italic; }
.s3x-footer { align-items: center; gap: 8px; margin-top: 6px; }
.s3x-footer .s3x-pageinfo { color: var(--s3x-muted); margin: 0 6px !important;
  font-variant-numeric: tabular-nums; }
.s3x-footer button { width: auto !important; padding: 0 12px; border-radius: 6px; }
.s3x-footer .widget-dropdown { width: 110px !important; }
.s3x-export-toggle { width: auto !important; padding: 0 12px; border-radius: 6px; }
.s3x-export { border: 1px solid var(--s3x-border); border-radius: 6px; padding: 6px 10px;
  margin: 0 0 6px 0 !important; background: var(--s3x-soft); gap: 4px; }
.s3x-export input { font-family: var(--s3x-mono); font-size: 12.5px; border-radius: 6px; }
.s3x-export-row { align-items: center; gap: 8px; }
.s3x-export-row .widget-text { flex: 1 1 auto; width: auto !important; margin: 0 !important; }
.s3x-export-row button { flex: 0 0 auto; width: auto !important; min-width: 7.5em;
  padding: 0 12px; border-radius: 6px; margin: 0 !important;
  border: 1px solid var(--s3x-border) !important; }
.s3x-export-row .s3x-label { flex: 0 0 4.5em; width: 4.5em !important;
  color: var(--s3x-muted); margin: 0 !important; }
.s3x-cost { margin: 0 !important; font-variant-numeric: tabular-nums; }
.s3x-cost i { color: var(--s3x-muted); }
.s3x-export-progress { width: 100% !important; margin: 2px 0 !important; }
.s3x-export-progress .widget-label { width: auto !important; min-width: 4.5em;
  max-width: none !important; overflow: visible; flex: 0 0 auto; text-align: left;
  font-variant-numeric: tabular-nums; padding-right: 8px; }
.s3x-export-progress .progress { border-radius: 6px; height: 12px; align-self: center; }
.s3x-export-status { margin: 0 !important; }
.s3x-bad { color: var(--jp-error-color1, #cf222e); }
.s3x-viewer { margin-top: 8px !important; }
.s3x-facts-grid { display: flex; flex-wrap: wrap; gap: 2px 16px; margin: 2px 0 6px; }
.s3x-sites { border-collapse: collapse; font-family: var(--s3x-mono); font-size: 12px; }
.s3x-sites th, .s3x-sites td { padding: 1px 10px 1px 0; text-align: left; }
.s3x-sites td { font-variant-numeric: tabular-nums; }
.s3x-sites th { color: var(--s3x-muted); font-weight: 500; }
.s3x-doc-head { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: baseline;
  padding-bottom: 6px; margin-bottom: 6px; border-bottom: 1px solid var(--s3x-border); }
.s3x-key { font-family: var(--s3x-mono); font-weight: 600; font-size: 13.5px; }
.s3x-facts { color: var(--s3x-muted); font-size: 12px; }
.s3x-empty { color: var(--s3x-muted); font-style: italic; padding: 6px 0; }
.s3x-body .widget-html-content { max-height: 520px; overflow: auto; }
.s3x-tree { font-family: var(--s3x-mono); font-size: 12.5px; line-height: 1.55; }
.s3x-tree summary { cursor: pointer; padding-left: 2px; }
.s3x-tree summary::marker { color: var(--s3x-muted); }
.s3x-tree summary:hover .s3x-name { text-decoration: underline; }
.s3x-leaf { padding-left: 1.15em; white-space: pre-wrap; word-break: break-word; }
.s3x-children { margin-left: 0.45em; padding-left: 0.7em;
  border-left: 1px solid var(--jp-border-color3, #eaeef2); }
.s3x-name { color: var(--jp-mirror-editor-property-color, #0550ae); font-weight: 600; }
.s3x-sep { color: var(--s3x-muted); }
.s3x-str { color: var(--jp-mirror-editor-string-color, #0a3069); }
.s3x-num { color: var(--jp-mirror-editor-number-color, #116329); }
.s3x-bool, .s3x-null { color: var(--jp-mirror-editor-keyword-color, #8250df); }
.s3x-date { color: var(--jp-mirror-editor-string-2-color, #953800); }
.s3x-other { color: var(--s3x-muted); }
.s3x-meta { color: var(--s3x-muted); font-weight: normal; font-size: 0.92em; }
.s3x-preview { color: var(--s3x-muted); font-size: 0.92em; }
.s3x-type { background: var(--s3x-soft); border: 1px solid var(--s3x-border);
  border-radius: 4px; padding: 0 4px; font-size: 0.82em; color: var(--s3x-muted); }
.s3x-more > summary { color: var(--s3x-accent); padding-left: 1.15em; }
.s3x-text { display: inline; }
.s3x-text > summary { display: inline; padding-left: 0; color: inherit; }
.s3x-text[open] > summary .s3x-str { display: none; }
.s3x-array { margin: 2px 0 6px 0; padding: 6px 8px; background: var(--s3x-soft);
  border-radius: 4px; max-height: 320px; overflow: auto; font-size: 12px; line-height: 1.4; }
.s3x-uploader .s3x-title { font-weight: 600; font-size: 14px; }
.s3x-uploader .s3x-title .s3x-meta { font-weight: normal; }
.s3x-controls { align-items: center; gap: 8px; margin: 6px 0; }
.s3x-controls button { width: auto !important; padding: 0 14px; border-radius: 6px; }
.s3x-progress { width: 100% !important; margin: 4px 0 !important; }
.s3x-progress .widget-label { width: auto !important; min-width: 9em; text-align: left;
  font-variant-numeric: tabular-nums; padding-right: 8px; }
.s3x-progress .progress { border-radius: 6px; height: 12px; align-self: center; }
.s3x-status { font-variant-numeric: tabular-nums; margin: 2px 0 !important; }
.s3x-failures ul { margin: 4px 0 0 0; padding-left: 1.4em; font-size: 12px; }
.s3x-failures li { font-family: var(--s3x-mono); word-break: break-word; }
.s3x-failures summary { cursor: pointer; color: var(--jp-error-color1, #cf222e); }
"""


def style_widget() -> widgets.HTML:
    """A hidden HTML widget holding the stylesheet; each widget carries its own copy."""
    html = widgets.HTML(f"<style>{CSS}</style>")
    html.add_class("s3x-style")
    return html


def html(value: str = "", *classes: str) -> widgets.HTML:
    """An HTML widget with our line height and ``classes`` on it."""
    widget = widgets.HTML(value)
    for name in ("s3x-html", *classes):
        widget.add_class(name)
    return widget
