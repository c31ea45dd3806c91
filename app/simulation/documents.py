"""A scenario document, YAML or JSON, read with the line of every key and list item, so that
a refusal names the line and the field.

Errors:

    ScenarioError          a scenario, or a file it names (trace, empirical values), refused;
                           carries every `Problem` found, each `file:line: field: message`

ScenarioError is deliberately not a ValueError: the models raise it from inside validators
(a bad row in a trace file) and pydantic must let it through rather than wrap it.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

Loc = tuple[str | int, ...]

MAX_NODES = 1_000_000  # guards against alias bombs (`&a [*b, *b, ...]`)


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None  # 1-based; None when the problem is the whole file
    field: str  # `queues[0].arrivals.poisson.rate_per_hour`, or a trace column; "" for none
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else (
            f"{where}: {self.message}")


class ScenarioError(Exception):
    """A scenario refused, with every problem found (in line order)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    @classmethod
    def one(cls, file: str, line: int | None, field: str, message: str) -> ScenarioError:
        return cls([Problem(file, line, field, message)])

    @property
    def line(self) -> int | None:
        return self.problems[0].line

    @property
    def field(self) -> str:
        return self.problems[0].field


def field_path(loc: Loc) -> str:
    """('queues', 0, 'arrivals') -> 'queues[0].arrivals'"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, slots=True)
class Document:
    file: str  # as given, for messages
    data: object
    lines: dict[Loc, int]  # each mapping key's line and each list item's first line

    def line(self, loc: Loc) -> int:
        """The line of `loc`, or of the nearest enclosing key that the file has (a missing
        field is reported where its parent is)."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return 1

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.file, self.line(loc), field_path(loc), message)

    def refuse(self, error: ValidationError) -> ScenarioError:
        problems = [self.problem(tuple(e["loc"]), _message(e["type"], e["msg"], e.get("input")))
                    for e in error.errors()]
        return ScenarioError(sorted(problems, key=lambda p: p.line or 0))


def _message(kind: str, text: str, given: object) -> str:
    """Pydantic's wording, shortened to read after a field name."""
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    if kind in ("value_error", "assertion_error"):
        return text.split(", ", 1)[1] if ", " in text else text
    text = re.sub(r"^\w+ should", "must", text)
    if isinstance(given, str | int | float) and not isinstance(given, bool):
        return f"{text}, not {given!r}"
    return text


def read_document(path: Path) -> Document:
    """A .yaml, .yml or .json file as plain data (mappings, lists, text, numbers, booleans)."""
    file = str(path)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise ScenarioError.one(file, None, "", "a scenario is a .yaml, .yml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError.one(file, None, "", e.strerror or str(e)) from e
    except UnicodeDecodeError as e:
        raise ScenarioError.one(file, None, "", "not UTF-8 text") from e
    data, lines = _json(file, text) if path.suffix == ".json" else _yaml(file, text)
    if not isinstance(data, dict):
        raise ScenarioError.one(file, 1, "", "a scenario is a mapping of keys to values")
    return Document(file, data, lines)


class _Loader(yaml.SafeLoader):
    """Plain scalars as YAML 1.2 reads them: `yes`, `no`, `on`, `off` stay text (a trace type
    `NO` must not become false), `1e3` is a number, and dates and times stay text (the models
    parse them)."""


_BOOL, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in (_BOOL, _FLOAT, "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
# A dot or an exponent makes a float; `60` stays an integer (strict integer fields want one).
_Loader.add_implicit_resolver(_FLOAT, re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _yaml(file: str, text: str) -> tuple[object, dict[Loc, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise ScenarioError.one(file, line, "", e.problem or str(e)) from e
    except yaml.YAMLError as e:
        raise ScenarioError.one(file, None, "", str(e)) from e
    if node is None:
        raise ScenarioError.one(file, None, "", "empty file")
    lines: dict[Loc, int] = {}
    budget = [MAX_NODES]

    def walk(node: yaml.Node, loc: Loc) -> object:
        budget[0] -= 1
        if budget[0] < 0:
            raise ScenarioError.one(file, node.start_mark.line + 1, field_path(loc),
                                    "too many values (aliases?)")
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # `<<: *defaults` merge keys
            out: dict[object, object] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node) if isinstance(
                    key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                if not isinstance(key, str | int) or isinstance(key, bool):
                    raise ScenarioError.one(file, line, field_path(loc), "a key must be text")
                if key in out:
                    raise ScenarioError.one(file, line, field_path((*loc, key)), "given twice")
                lines[(*loc, key)] = line
                out[key] = walk(value_node, (*loc, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                items.append(walk(item, (*loc, i)))
            return items
        try:
            return loader.construct_object(node)
        except yaml.YAMLError as e:
            raise ScenarioError.one(file, node.start_mark.line + 1, field_path(loc),
                                    str(e)) from e

    try:
        return walk(node, ()), lines
    finally:
        loader.dispose()


def _json(file: str, text: str) -> tuple[object, dict[Loc, int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError.one(file, e.lineno, "", e.msg) from e
    return data, _json_lines(file, text)


_SPACE = re.compile(r"[ \t\n\r]*")


def _json_lines(file: str, text: str) -> dict[Loc, int]:
    """Where each key and list item of valid JSON starts. The json module keeps no
    positions, so this walks the text once more, the same way it does."""
    breaks = [i for i, c in enumerate(text) if c == "\n"]
    lines: dict[Loc, int] = {}
    decoder = json.JSONDecoder()

    def line_at(pos: int) -> int:
        return bisect.bisect_right(breaks, pos) + 1

    def skip(pos: int) -> int:
        match = _SPACE.match(text, pos)
        return match.end() if match else pos

    def value(pos: int, loc: Loc) -> int:
        pos = skip(pos)
        opening = text[pos]
        if opening not in "{[":
            return decoder.raw_decode(text, pos)[1]
        pos, n = skip(pos + 1), 0
        while text[pos] not in "}]":
            if opening == "{":
                key_pos = pos
                key, pos = decoder.raw_decode(text, pos)
                here: Loc = (*loc, key)
                if here in lines:
                    raise ScenarioError.one(file, line_at(key_pos), field_path(here),
                                            "given twice")
                lines[here] = line_at(key_pos)
                pos = skip(pos) + 1  # the colon
            else:
                here = (*loc, n)
                lines[here] = line_at(skip(pos))
                n += 1
            pos = skip(value(pos, here))
            if text[pos] == ",":
                pos = skip(pos + 1)
        return pos + 1

    value(0, ())
    return lines
