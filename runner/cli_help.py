"""What `seedream-batch --help` tells a user: what the tool does, examples, exit
codes, and every option's default (`cli_args` holds the grammar itself)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Run large batches of Seedream image generations on the Chanjing Open API,
unattended: a YAML manifest in; images, summary.json and a gallery (index.html)
out, in outputs/<name>/. Interrupted (Ctrl-C, kill, reboot, deadline)? Run the
same command again: it resumes, never submits a task twice, never loses an image.
"""

EPILOG = """\
examples:
  seedream-batch validate jobs/spring.yaml          check it; submits nothing
  seedream-batch run jobs/spring.yaml --simulate    try it on the bundled simulator
  seedream-batch run jobs/spring.yaml --qps 10 --deadline 6h
  seedream-batch status jobs/spring.yaml            how a run is going (or went)

credentials: $CHANJING_ACCESS_TOKEN, or $CHANJING_APP_ID + $CHANJING_SECRET_KEY,
or ~/.chanjing/credentials.json. `COMMAND --help` lists a command's options.

exit codes: 0 all done; 1 some tasks failed (see summary.json); 2 usage or
manifest error, nothing submitted; 3 authentication failed; 4 stopped early
with work left, run again to resume; 75 another run holds the run directory.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; an option's default shown unless its help says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = (
            "default" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS, [])
        )
        if shown:
            return text
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        return f"{text} (default {default})".lstrip()


def finish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The same formatter for every command; each command's help opens its own --help."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                sub.formatter_class = HelpFormatter
                if sub.description is None and helps.get(name):
                    sub.description = f"{name}: {helps[name]}"
    return parser
