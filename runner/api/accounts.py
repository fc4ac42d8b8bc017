"""The accounts file (`run --accounts FILE`): several accounts, one pool.

    accounts:
      - label: studio-a
        app_id: "..."                  # or app_id_env: a variable holding it
        secret_key_env: STUDIO_A_SECRET # or secret_key: "..." (then chmod 600)
        qps: 10                         # this account's own cap (default: --qps)
        max_images: 5000                # optional budget for this account
      - label: studio-b
        credentials_dir: ~/.chanjing-b  # the vendor tools' credentials.json there
        qps: 20

Without `--accounts`, `accounts.yaml` in $CHANJING_OPENAPI_CREDENTIALS_DIR is
used when it exists. As ssh does with keys, a file that holds a secret and
that group or others can read is refused. Every problem names file:line:field;
labels (never secrets) are what logs, ledger and reports show.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.api.credentials import Credentials, register_secret, resolve_credentials
from runner.errors import AccountsError, ManifestIssue, UsageError, YamlProblem
from runner.manifest import yamlpos

FILE_NAME = "accounts.yaml"
KEYS = (
    "label",
    "app_id",
    "app_id_env",
    "secret_key",
    "secret_key_env",
    "credentials_dir",
    "qps",
    "max_images",
)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


@dataclass(frozen=True, slots=True)
class AccountSpec:
    label: str
    credentials: Credentials
    qps: float | None  # None: the run's --qps
    max_images: int | None = None


def default_path(env: dict[str, str] | None = None) -> Path | None:
    """accounts.yaml in $CHANJING_OPENAPI_CREDENTIALS_DIR, when there is one."""
    env = dict(os.environ) if env is None else env
    folder = env.get("CHANJING_OPENAPI_CREDENTIALS_DIR")
    path = Path(folder) / FILE_NAME if folder else None
    return path if path is not None and path.is_file() else None


def load_accounts(path: Path, env: dict[str, str] | None = None) -> list[AccountSpec]:
    env = dict(os.environ) if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsError([ManifestIssue(str(path), 0, 0, "", f"cannot read: {exc}")]) from None
    try:
        root = yamlpos.load(text)
    except YamlProblem as exc:
        raise AccountsError(
            [ManifestIssue(str(path), exc.line, exc.column, "", exc.message, exc.hint)]
        ) from None
    check = _Issues(str(path))
    issues, problem = check.items, check.add
    if root is None or not isinstance(root.value, dict) or "accounts" not in root.value:
        problem((1, 1), "accounts", "expected `accounts:` with a list of accounts")
        raise AccountsError(issues)
    node = root.value["accounts"]
    if not isinstance(node.value, list) or not node.value:
        problem((node.line, node.column), "accounts", "must be a non-empty list")
        raise AccountsError(issues)
    specs: list[AccountSpec] = []
    inline_secret = False
    for i, item in enumerate(node.value):
        spec, has_secret = _account(item, f"accounts[{i}]", env, check)
        inline_secret = inline_secret or has_secret
        if spec is None:
            continue
        if any(s.label == spec.label for s in specs):
            problem((item.line, item.column), f"accounts[{i}].label", f"{spec.label!r} twice")
            continue
        specs.append(spec)
    if inline_secret:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problem(
                (0, 0),
                "",
                f"holds a secret_key and others can read it (mode {stat.filemode(mode)})",
                f"chmod 600 {path}, or name a variable with secret_key_env",
            )
    if issues:
        raise AccountsError(issues)
    return specs


class _Issues:
    def __init__(self, file: str):
        self.file, self.items = file, list[ManifestIssue]()

    def add(self, at: tuple[int, int], where: str, message: str, hint: str = "") -> None:
        self.items.append(ManifestIssue(self.file, at[0], at[1], where, message, hint))


def _account(
    item: yamlpos.YNode, where: str, env: dict[str, str], check: _Issues
) -> tuple[AccountSpec | None, bool]:
    """One account entry; (None, ...) after reporting what is wrong with it."""
    report = check.add
    at = (item.line, item.column)
    if not isinstance(item.value, dict):
        report(at, where, "an account is a mapping with a label and credentials")
        return None, False
    fields = item.value
    ok = True

    def pos(key: str) -> tuple[int, int]:
        return item.key_pos.get(key, at)

    for key in fields:
        if key not in KEYS:
            report(pos(key), f"{where}.{key}", "unknown key", f"valid keys: {', '.join(KEYS)}")
            ok = False
    label = fields["label"].value if "label" in fields else None
    if not isinstance(label, str) or not _LABEL.match(label):
        report(pos("label"), f"{where}.label", "required: letters, digits, _ . - (up to 40)")
        ok = False
    qps = fields["qps"].value if "qps" in fields else None
    if qps is not None and (isinstance(qps, bool) or not isinstance(qps, int | float) or qps <= 0):
        report(pos("qps"), f"{where}.qps", "must be a number > 0")
        ok = False
    budget = fields["max_images"].value if "max_images" in fields else None
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
    ):
        report(pos("max_images"), f"{where}.max_images", "must be a whole number >= 1")
        ok = False
    texts: dict[str, str] = {}
    for key in ("app_id", "app_id_env", "secret_key", "secret_key_env", "credentials_dir"):
        if key in fields:
            value = fields[key].value
            if not isinstance(value, str) or not value.strip():
                report(pos(key), f"{where}.{key}", "must be non-empty text")
                ok = False
            else:
                texts[key] = value.strip()
    has_secret = "secret_key" in texts
    creds = _credentials(texts, where, env, pos, check) if ok else None
    if creds is None or not ok:
        return None, has_secret
    return AccountSpec(str(label), creds, float(qps) if qps else None, budget), has_secret


def _credentials(
    texts: dict[str, str],
    where: str,
    env: dict[str, str],
    pos: Callable[[str], tuple[int, int]],
    check: _Issues,
) -> Credentials | None:
    report = check.add
    if "credentials_dir" in texts:
        if set(texts) - {"credentials_dir"}:
            report(
                pos("credentials_dir"), where, "credentials_dir, or app_id + secret_key: not both"
            )
            return None
        folder = Path(texts["credentials_dir"]).expanduser()
        try:
            return resolve_credentials({"CHANJING_OPENAPI_CREDENTIALS_DIR": str(folder)})
        except UsageError as exc:
            report(pos("credentials_dir"), f"{where}.credentials_dir", str(exc))
            return None
    values: dict[str, str] = {}
    for name in ("app_id", "secret_key"):
        if name in texts and f"{name}_env" in texts:
            report(pos(name), f"{where}.{name}", f"{name} or {name}_env: not both")
            return None
        if name in texts:
            values[name] = texts[name]
        elif f"{name}_env" in texts:
            var = texts[f"{name}_env"]
            if not env.get(var):
                report(pos(f"{name}_env"), f"{where}.{name}_env", f"${var} is not set")
                return None
            values[name] = env[var]
        else:
            report(
                pos("label"),
                where,
                f"no {name}",
                f"give {name}, {name}_env (a variable's name) or credentials_dir",
            )
            return None
    register_secret(values["secret_key"])
    return Credentials(app_id=values["app_id"], secret_key=values["secret_key"], source=where)
