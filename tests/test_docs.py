"""The README front page and docs/: every link and named script resolves, and CI runs the README's test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)")  # the target of a markdown link or image, without an #anchor
SCRIPT = re.compile(r"\b(?:config|plots|results)/[\w-]+\.py\b")  # a config file or script of this repository


def pages():
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_link_and_script_named_in_the_readme_and_docs_exists():
    missing = [f"{page.relative_to(ROOT)}: {target}" for page in pages() for target in LINK.findall(page.read_text())
               if "://" not in target and not (page.parent / target).exists()]
    missing += [f"{page.relative_to(ROOT)}: {script}" for page in pages()
                for script in SCRIPT.findall(page.read_text()) if not (ROOT / script).is_file()]
    assert not missing


def test_ci_runs_the_readme_test_command():
    command = re.search(r"\nRun the tests[^\n]*:\n\n    ([^\n]+)\n", (ROOT / "README.md").read_text())[1]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    # CI spells it for a bare machine: python3, and pip run quietly through it
    assert ci.replace("python3 -m pip install -q", "pip install").replace("python3", "python") == command
