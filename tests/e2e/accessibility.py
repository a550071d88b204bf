"""An automated accessibility check for browser journeys: axe-core, run inside the page.

axe-core comes from the npm registry into `.tools/` (scripts/setup.sh --test). Every rule axe
enables by default runs (WCAG 2.0/2.1/2.2 A and AA plus axe's best practices: label,
button-name, link-name, image-alt, aria-valid-attr-value, color-contrast, nested-interactive,
...); a page fails on any violation axe rates serious or critical. No rule is switched off.
"""

from typing import Any

from playwright.sync_api import Page

from photoai.settings import PROJECT_ROOT

AXE_SCRIPT = PROJECT_ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = frozenset({"serious", "critical"})


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical findings on what the page shows now."""
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"{AXE_SCRIPT} is missing: run `bash scripts/setup.sh --test`")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    results: dict[str, Any] = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in results["violations"] if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node['failureSummary']!r}")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str) -> None:
    violations = serious_violations(page)
    assert not violations, f"accessibility violations on {where}:\n{describe(violations)}"
