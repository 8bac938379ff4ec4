"""The documentation a user reads matches the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    """docs/cli.md documents every command and every option the code has (the exact layout of
    --help varies between click versions, so the options are compared, not the bytes)."""
    import click

    from lczmap.cli import main

    text = (ROOT / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^## lczmap (\S+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    assert set(sections) == set(main.commands), "docs/cli.md is stale: run python scripts/docs/make_cli_docs.py"
    for name, command in main.commands.items():
        option_block = sections[name].split("Options:", 1)[-1]
        documented = {  # the flags in the option column of --help (the text before the help)
            flag
            for line in option_block.splitlines()
            if line.lstrip().startswith("-")
            for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", re.split(r"\s{2,}", line.strip())[0])
        }
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]  # old spellings kept one release
        for param in options:
            for flag in [*param.opts, *param.secondary_opts]:
                assert flag in documented, f"{flag} of lczmap {name} missing: run python scripts/docs/make_cli_docs.py"
        stale = (
            {f for f in documented if f.startswith("--")}
            - {f for p in options for f in (*p.opts, *p.secondary_opts)}
            - {"--help"}
        )
        assert not stale, f"lczmap {name}: {stale} no longer exist: run python scripts/docs/make_cli_docs.py"


def test_readme_lists_every_command_and_quick_start():
    from lczmap.cli import main

    readme = (ROOT / "README.md").read_text()
    for name in main.commands:
        assert f"lczmap {name}" in readme, name
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```", 2)[1].split("\n", 1)[1]  # the first fenced block, without its language tag
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands  # exactly two: install + demo, install + tests


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((?!https?://)([^)#]+)", readme):
        assert (ROOT / target).exists(), target
