"""The README front page and docs/: every link and named script resolves, every command of this repository's
scripts parses, and CI runs the README's test command."""
import argparse
import re
import runpy
import shlex
import sys

import sample
import settings
from configurator import load_config
from helpers import ROOT
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


CONFIGURED = {"train.py": (settings.DEFAULTS, settings.CHOICES), "sample.py": (sample.DEFAULTS, sample.CHOICES)}


def commands():
    """(page, script, arguments) of each command in a code block (4-space indent) of README.md and docs/ that runs a
    script of this repository: `python X.py`, `torchrun ... X.py`; continuation lines joined, comments dropped."""
    for page in pages():
        for line in re.findall(r"^    (.+)$", re.sub(r"\\\n\s*", "", page.read_text()), re.M):
            for command in line.split(" && "):
                words = shlex.split(command, comments=True)
                at = next((i for i, w in enumerate(words) if w.endswith(".py") and (ROOT / w).is_file()), None)
                if at is not None:
                    yield page.relative_to(ROOT), words[at], words[at + 1:]


class Parsed(Exception):
    """Raised once a script's argument parser accepted its arguments: nothing after that runs."""


def test_every_command_in_the_readme_and_docs_parses(monkeypatch):
    """train.py's arguments resolve in its configurator (config files and --key=value); an argparse script's parser
    accepts its arguments. Flags renamed or removed in the code but not in the docs fail here."""
    found, failed = set(), []
    monkeypatch.chdir(ROOT)
    parse_known = argparse.ArgumentParser.parse_known_args

    def parse_then_stop(self, args=None, namespace=None):
        self.allow_abbrev = False  # the docs spell flags in full: '--task' for '--tasks' must fail
        namespace, extras = parse_known(self, args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")  # as parse_args would
        raise Parsed(namespace)

    def parse_known_then_stop(self, args=None, namespace=None):
        self.allow_abbrev = False
        raise Parsed(parse_known(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_known_then_stop)
    for page, script, args in commands():
        found.add(script)
        try:
            if script in CONFIGURED:  # nanoGPT-style flags, read by configurator.py
                defaults, choices = CONFIGURED[script]
                load_config(defaults, args, choices)
            elif "argparse" in (ROOT / script).read_text():
                monkeypatch.setattr(sys, "argv", [script, *args])
                runpy.run_path(str(ROOT / script), run_name="__main__")
                failed.append(f"{page}: {script} {shlex.join(args)}: ran past its argument parser")
        except Parsed:
            pass
        except (SystemExit, Exception) as e:
            failed.append(f"{page}: {script} {shlex.join(args)}: {type(e).__name__} {e}")
    assert not failed
    assert {"train.py", "sample.py", "inherit.py", "export_hf.py", "evaluate.py", "study.py", "analyze.py"} <= found


def test_ci_runs_the_readme_test_command():
    command = re.search(r"\nRun the tests[^\n]*:\n\n    ([^\n]+)\n", (ROOT / "README.md").read_text())[1]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    # CI spells it for a bare machine: python3, and pip run quietly through it
    assert ci.replace("python3 -m pip install -q", "pip install").replace("python3", "python") == command
