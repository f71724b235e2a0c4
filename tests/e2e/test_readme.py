"""The README is part of the product: its commands exist, CI runs its test command, its numbers are the results'."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from latentfolio.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, re.S)


def test_opens_with_the_two_setup_commands():
    first, second = code_blocks()[:2]
    assert first.strip().endswith("latentfolio demo") and "-c constraints.txt" in first
    assert "pytest" in second and "-c constraints.txt" in second
    assert README.index(first) < README.index("## Commands")


def test_ci_runs_the_readme_test_command():
    test_cmd = code_blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_every_documented_command_exists_and_every_command_is_documented():
    registered = {c.name or c.callback.__name__ for c in app.registered_commands}
    used = set()
    for block in code_blocks():
        for line in block.splitlines():
            m = re.match(r"\s*(?:\S+=\S+\s+)*(?:\.venv/bin/)?latentfolio\s+([a-z-]+)", line)
            if m:
                used.add(m.group(1))
    assert used <= registered, used - registered
    assert registered <= used, f"undocumented: {registered - used}"


def test_documented_flags_exist():
    """Every --flag in a README example is accepted by that command."""
    from typer.main import get_command

    cli = get_command(app)
    for block in code_blocks():
        for line in block.splitlines():
            m = re.match(r"\s*(?:\S+=\S+\s+)*(?:\.venv/bin/)?latentfolio\s+([a-z-]+)(.*)", line)
            if not m:
                continue
            cmd = cli.commands[m.group(1)]
            opts = {o for p in cmd.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
            for flag in re.findall(r"(--[a-z][a-z-]*)", m.group(2).split("#")[0]):
                assert flag in opts, f"latentfolio {m.group(1)} has no {flag}"


def test_benchmark_tables_are_current():
    r = subprocess.run([sys.executable, "-m", "benchmarks.tables", "--check"], cwd=ROOT)
    assert r.returncode == 0, ("docs/benchmarks.md, docs/reliability.md or the README's figures differ from "
                               "benchmarks/results: run python -m benchmarks.tables --write")


def readme_figures(text: str) -> str:
    """The README's rendered block of figures."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import readme
    finally:
        sys.path.remove(str(ROOT))
    return readme.render(text)


# a measured quantity: a number with a unit of time, speed, quality or size, or a ratio
MEASURED = re.compile(r"\d[\d,.]*\s?(?:dB|MP/s|images/s|ms|s/MP|MB|GB|×|%|min\b)")


def test_readme_figures_are_the_results_and_only_there():
    """Every measured figure of the README is rendered from benchmarks/results: the block between
    its markers is what the results give, and no measured figure stands outside it."""
    assert readme_figures(README) == README, "run python -m benchmarks.tables --write"
    outside = re.sub(r"<!-- figures:.*?<!-- /figures -->", "", README, flags=re.S)
    outside = re.sub(r"```.*?```", "", outside, flags=re.S)  # commands, not claims
    assert not MEASURED.findall(outside), MEASURED.findall(outside)


HAND_WRITTEN_DOCS = ("design", "scale", "features", "formats")  # the rest of docs/ is rendered, or a log of tries


def test_the_hand_written_docs_state_no_measured_figure():
    """A measured figure lives in a results file and the page rendered from it (benchmarks.md);
    the hand-written docs point there, so they cannot go stale. Code (a constant's name) is not a claim."""
    for doc in HAND_WRITTEN_DOCS:
        text = (ROOT / "docs" / f"{doc}.md").read_text()
        text = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
        assert not MEASURED.findall(text), (doc, MEASURED.findall(text))


def test_a_planted_wrong_figure_is_caught():
    planted = README.replace("dB test PSNR", "0 dB test PSNR", 1)
    assert planted != README and readme_figures(planted) != planted
    assert MEASURED.findall(README.replace("## Limits", "## Limits\n\n- 9.9 dB better than everything.\n", 1)
                            .split("<!-- /figures -->")[1])


def test_readme_is_short_and_links_the_docs():
    assert README.count("\n") < 250
    for doc in ("benchmarks", "experiments", "formats", "design"):
        assert f"(docs/{doc}.md)" in README and (ROOT / "docs" / f"{doc}.md").exists()
