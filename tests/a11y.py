"""Accessibility checks for browser tests: axe-core (self-hosted under ``static/vendor/axe-core/``) and the size of
tap targets. The page loads axe from the site itself, so the Content-Security-Policy (``script-src 'self'``) holds."""

from __future__ import annotations

from typing import Any

AXE_URL = "/static/vendor/axe-core/axe.min.js"
# WCAG 2.0–2.2 A and AA, and Deque's best practices (landmarks, headings…); target-size is WCAG 2.2 AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = ("serious", "critical")
_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " "))
  }));
}"""

# Controls that are targets outside running text: each at least 24×24 CSS px (WCAG 2.2, 2.5.8), checked directly as
# well as by axe's target-size rule (which also accepts enough spacing instead of size).
TARGETS = (
    ".site-header a, .site-footer a, button, .button, .preset, .step-nav a, summary, select, "
    "input[type=checkbox], input[type=radio]"
)
_SMALL_TARGETS = f"""() => Array.from(document.querySelectorAll("{TARGETS}")).filter(el => {{
  const box = el.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) return false;  // not shown
  return box.width < 24 || box.height < 24;
}}).map(el => el.outerHTML.slice(0, 160))"""


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe violations of the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(url=AXE_URL)
    found = await page.evaluate(_RUN, AXE_TAGS)
    return [v for v in found if v["impact"] in BLOCKING]


async def small_targets(page: Any) -> list[str]:
    return await page.evaluate(_SMALL_TARGETS)  # type: ignore[no-any-return]
