"""Load YAML keeping each value's line and column, so errors can point at them.

Differences from plain `yaml.safe_load`, each on purpose:
- `16:9` stays the string "16:9" (YAML 1.1 reads it as the base-60 integer 969);
- only true/false are booleans (a prompt or name of `no` or `on` stays text);
- duplicate keys and non-text keys are errors, not silently merged;
- alias expansion is bounded, so an alias bomb is refused instead of eating memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.errors import YamlProblem
from runner.manifest import yamlhints

MAX_ALIASED_VALUES = 100_000  # values reached through `*alias`, summed


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    pass


_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_OVERRIDDEN = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _OVERRIDDEN]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))


@dataclass(slots=True)
class YNode:
    """A value with its position; mappings also keep where each key stands."""

    value: Any  # dict[str, YNode] | list[YNode] | str | int | float | bool | None
    line: int  # 1-based
    column: int  # 1-based
    key_pos: dict[str, tuple[int, int]] = field(default_factory=dict)

    def plain(self) -> Any:
        """The value without positions."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def load(text: str) -> YNode | None:
    """Parse one YAML document; None for an empty one. Raises YamlProblem."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        return _Converter(loader).convert(root, aliased=False)
    except yaml.MarkedYAMLError as exc:
        said = yamlhints.describe(exc, text)
        raise YamlProblem(said.line, said.column, said.message, said.hint) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(0, 0, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


class _Converter:
    def __init__(self, loader: _Loader):
        self.loader = loader
        self.seen: set[int] = set()
        self.alias_budget = MAX_ALIASED_VALUES

    def convert(self, node: yaml.Node, aliased: bool) -> YNode:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        aliased = aliased or id(node) in self.seen
        self.seen.add(id(node))
        if aliased:
            self.alias_budget -= 1
            if self.alias_budget < 0:
                raise YamlProblem(
                    line, col, f"aliases expand to more than {MAX_ALIASED_VALUES:,} values"
                )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, aliased, line, col)
        if isinstance(node, yaml.SequenceNode):
            return YNode([self.convert(item, aliased) for item in node.value], line, col)
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlProblem(line, col, f"unsupported value: {exc.problem}") from None
        return YNode(value, line, col)

    def _mapping(self, node: yaml.MappingNode, aliased: bool, line: int, col: int) -> YNode:
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, YNode] = {}
        key_pos: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            kline, kcol = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            key = (
                self.loader.construct_object(key_node)
                if isinstance(key_node, yaml.ScalarNode)
                else None
            )
            if not isinstance(key, str):
                raise YamlProblem(kline, kcol, "keys must be plain text")
            if key in out:
                first = key_pos[key][0]
                raise YamlProblem(kline, kcol, f"duplicate key {key!r} (first at line {first})")
            out[key] = self.convert(value_node, aliased)
            key_pos[key] = (kline, kcol)
        return YNode(out, line, col, key_pos)
