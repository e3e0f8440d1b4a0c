"""The linguist attributes of ``.gitattributes`` files: which paths they mark vendored or generated.

git's rules, for the two attributes the listing reads (``linguist-vendored``, ``linguist-generated``): a file applies to
the paths below its directory; a pattern without a slash matches the file name at any depth, one with a slash (a leading
one only anchors it) the path relative to that directory; ``*`` and ``?`` never match ``/``, ``[...]`` is a class
(``[!...]`` negated, ranges, POSIX ``[:alpha:]`` classes; one git gives up on, unclosed or with an unknown class,
matches nothing), ``\\`` escapes (in a class too); ``**/`` leads through any directories, ``/**/`` stands for zero or
more, a trailing ``/**`` for everything inside. As in git, a pattern ending in ``/`` matches no file (write ``dir/**``),
negative patterns (``!x``) are invalid and ``[attr]`` macro definitions are not expanded here. ``attr`` sets, ``-attr``
unsets, ``attr=false`` unsets, ``attr=<other value>`` sets, ``!attr`` returns to unspecified; the last matching line
wins, a deeper file's lines after its ancestors'.

Matching is done here rather than by libgit2 (``Repository.get_attr``): libgit2 looks the attribute files up in the
commit's trees for every path, 50-150 µs a file, where a listing of a large repository looks up every file. Lines
longer than ``MAX_LINE_BYTES`` and lines past ``MAX_RULES`` along one path are ignored, which bounds the work per
file (each component match is at most pattern length times name length steps).
"""

from __future__ import annotations

import enum
import re
from typing import Final, NamedTuple

ATTRIBUTES: Final = ("linguist-vendored", "linguist-generated")
MAX_LINE_BYTES: Final = 256
MAX_RULES: Final = 64
"""Most rules applied along one path (the root's file first)."""


class _Wild(enum.Enum):
    STAR = "*"
    ANY = "?"
    DOUBLE_STAR = "**"  # a whole component: zero or more components


Token = str | re.Pattern[str] | _Wild
"""A literal character, a compiled one-character class, ``*`` or ``?``."""
Component = tuple[Token, ...] | re.Pattern[str] | _Wild
"""A path component's glob: tokens (matched greedily: two ``*`` or more), a compiled regular expression (at most
one ``*``: linear, and in C), or ``**``."""


class Rule(NamedTuple):
    """One ``.gitattributes`` line that sets or resets a linguist attribute."""

    base: str  # the directory of its file, with a trailing "/" ("" at the root)
    components: tuple[Component, ...]
    basename: bool  # the pattern has no slash: it matches the file name at any depth
    effects: tuple[tuple[int, bool | None], ...]  # (index in ATTRIBUTES, True set / False unset / None reset)


def parse_attributes(text: str, base: str) -> list[Rule]:
    """The rules of one ``.gitattributes`` file in directory ``base`` ("" or ending in "/") that touch a linguist
    attribute, in line order."""
    rules: list[Rule] = []
    for line in text.splitlines():
        if len(line) > MAX_LINE_BYTES or "linguist-" not in line:
            continue
        fields = line.split()
        if not fields or fields[0].startswith(("#", "!", "[attr]")):
            continue
        pattern = fields[0].removeprefix("\\") if fields[0].startswith("\\#") else fields[0]
        effects = tuple(effect for token in fields[1:] if (effect := _effect(token)) is not None)
        if not effects or pattern.endswith("/"):
            continue
        basename = "/" not in pattern
        parts = pattern.lstrip("/").split("/")
        try:
            components: tuple[Component, ...] = tuple(
                _Wild.DOUBLE_STAR if part == "**" else _component(_tokens(part)) for part in parts
            )
        except _Unmatchable:
            continue
        if components[-1] == _Wild.DOUBLE_STAR:  # a trailing /** is everything inside: one component or more
            components = (*components[:-1], _component((_Wild.STAR,)), _Wild.DOUBLE_STAR)
        rules.append(Rule(base, components, basename, effects))
    return rules


def linguist_state(rules: tuple[Rule, ...], path: str) -> tuple[bool | None, bool | None]:
    """(vendored, generated) for ``path`` under ``rules`` (the applicable rules, shallowest file first): ``True``
    marked, ``False`` un-marked, ``None`` unspecified."""
    states: list[bool | None] = [None, None]
    decided = [False, False]
    parts: list[str] | None = None
    for rule in reversed(rules):
        if all(decided[index] for index, _ in rule.effects) or not path.startswith(rule.base):
            continue
        if rule.basename:
            matched = _match_component(rule.components[0], path.rsplit("/", 1)[-1])
        else:
            parts = path[len(rule.base) :].split("/")
            matched = _match_path(rule.components, parts)
        if not matched:
            continue
        for index, state in rule.effects:
            if not decided[index]:
                decided[index] = True
                states[index] = state
        if all(decided):
            break
    return states[0], states[1]


def _effect(token: str) -> tuple[int, bool | None] | None:
    """What one attribute token does to a linguist attribute, or ``None`` for other attributes."""
    name, _, value = token.partition("=")
    state: bool | None = True
    if name[:1] in "-!":
        state = False if name[0] == "-" else None
        name = name[1:]
    elif value:
        state = value != "false"
    if name not in ATTRIBUTES:
        return None
    return ATTRIBUTES.index(name), state


def _component(tokens: tuple[Token, ...]) -> Component:
    """The tokens, or with at most one ``*`` the equivalent regular expression (a component holds no ``/``)."""
    if tokens.count(_Wild.STAR) > 1:
        return tokens
    parts = []
    for token in tokens:
        if isinstance(token, _Wild):
            parts.append(".*" if token == _Wild.STAR else ".")
        else:
            parts.append(re.escape(token) if isinstance(token, str) else token.pattern)
    return re.compile("".join(parts), re.DOTALL)


def _tokens(glob: str) -> tuple[Token, ...]:
    """A component glob as tokens (``**`` inside a component is ``*``)."""
    tokens: list[Token] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == "*":
            if not tokens or tokens[-1] != _Wild.STAR:
                tokens.append(_Wild.STAR)
        elif char == "?":
            tokens.append(_Wild.ANY)
        elif char == "\\" and index + 1 < len(glob):
            index += 1
            tokens.append(glob[index])
        elif char == "[":
            token, index = _bracket(glob, index)
            tokens.append(token)
        else:
            tokens.append(char)
        index += 1
    return tuple(tokens)


_POSIX_CLASSES: Final = {
    "alnum": ((48, 57), (65, 90), (97, 122)),
    "alpha": ((65, 90), (97, 122)),
    "blank": ((9, 9), (32, 32)),
    "cntrl": ((0, 31), (127, 127)),
    "digit": ((48, 57),),
    "graph": ((33, 126),),
    "lower": ((97, 122),),
    "print": ((32, 126),),
    "punct": ((33, 47), (58, 64), (91, 96), (123, 126)),
    "space": ((9, 10), (13, 13), (32, 32)),
    "upper": ((65, 90),),
    "xdigit": ((48, 57), (65, 70), (97, 102)),
}
"""The ``[:name:]`` classes of git's wildmatch, as code point ranges (ASCII, with git's own ``isspace``)."""


class _Unmatchable(Exception):
    """A pattern git's wildmatch gives up on (an unclosed ``[``, an unknown ``[:class:]``): it matches nothing."""


def _bracket(glob: str, start: int) -> tuple[re.Pattern[str], int]:
    """The class ``[...]`` opening at ``glob[start]`` as a one-character regular expression, and the index of its
    closing ``]``, read as git's wildmatch reads it: ``!`` or ``^`` first negates, a ``]`` first is a member,
    ``\\`` takes the next character literally, ``a-z`` is a range (none if reversed), ``[:alpha:]`` a POSIX
    class. Every member is written as a code point escape, so no character of the glob means anything to ``re``
    (``&&``, ``||``, ``--``, ``~~`` or ``[`` in a class would be future set operations). Raises ``_Unmatchable``
    where git gives up."""
    index = start + 1
    negated = glob[index : index + 1] in ("!", "^")
    index += negated
    ranges: list[tuple[int, int]] = []
    previous: str | None = None
    first = True
    while True:
        if index >= len(glob):
            raise _Unmatchable(glob)
        char = glob[index]
        if char == "]" and not first:
            break
        first = False
        if char == "\\":
            index += 1
            if index >= len(glob):
                raise _Unmatchable(glob)
            char = glob[index]
            ranges.append((ord(char), ord(char)))
        elif char == "-" and previous is not None and glob[index + 1 : index + 2] not in ("", "]"):
            index += 1
            high = glob[index]
            if high == "\\":
                index += 1
                if index >= len(glob):
                    raise _Unmatchable(glob)
                high = glob[index]
            ranges.append((ord(previous), ord(high)))  # reversed, it holds nothing (the regex is built below)
            previous = None
            index += 1
            continue
        elif char == "[" and glob[index + 1 : index + 2] == ":":
            end = glob.find("]", index + 2)
            if end == -1:
                raise _Unmatchable(glob)
            if end - index < 3 or glob[end - 1] != ":":  # no ":]": the "[" is a member
                ranges.append((ord(char), ord(char)))
            else:
                name = glob[index + 2 : end - 1]
                if name not in _POSIX_CLASSES:
                    raise _Unmatchable(glob)
                ranges.extend(_POSIX_CLASSES[name])
                previous = None
                index = end + 1
                continue
        else:
            ranges.append((ord(char), ord(char)))
        previous = char
        index += 1
    members = "".join(
        f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges if low <= high
    )
    if not members:
        return re.compile("." if negated else "(?!)", re.DOTALL), index
    return re.compile(f"[{'^' if negated else ''}{members}]"), index


def _match_path(components: tuple[Component, ...], parts: list[str]) -> bool:
    """Whether the path components ``parts`` match the pattern ``components`` (``**`` spans zero or more)."""
    reachable = {0}
    for part in parts:
        reachable = _through_double_stars(components, reachable)
        following: set[int] = set()
        for position in reachable:
            if position == len(components):
                continue
            component = components[position]
            if component == _Wild.DOUBLE_STAR:
                following.add(position)
            elif _match_component(component, part):
                following.add(position + 1)
        if not following:
            return False
        reachable = following
    return len(components) in _through_double_stars(components, reachable)


def _through_double_stars(components: tuple[Component, ...], reachable: set[int]) -> set[int]:
    """``reachable`` plus the positions after any run of ``**`` (which may match nothing)."""
    closed = set(reachable)
    for start in reachable:
        position = start
        while position < len(components) and components[position] == _Wild.DOUBLE_STAR:
            position += 1
            closed.add(position)
    return closed


def _match_component(tokens: Component, name: str) -> bool:
    """Whether one component glob matches ``name``: greedy, going back only to the last ``*`` (at most
    len(tokens) * len(name) steps)."""
    if isinstance(tokens, _Wild):
        return True  # ``**``
    if isinstance(tokens, re.Pattern):
        return tokens.fullmatch(name) is not None
    token_index = name_index = 0
    star = -1
    resume = 0
    while name_index < len(name):
        token = tokens[token_index] if token_index < len(tokens) else None
        if token == _Wild.STAR:
            star, resume = token_index, name_index
            token_index += 1
        elif token is not None and _matches_one(token, name[name_index]):
            token_index += 1
            name_index += 1
        elif star >= 0:
            resume += 1
            token_index, name_index = star + 1, resume
        else:
            return False
    return all(token == _Wild.STAR for token in tokens[token_index:])


def _matches_one(token: Token, char: str) -> bool:
    """Whether a token other than ``*`` matches one character."""
    if isinstance(token, _Wild):
        return token == _Wild.ANY
    if isinstance(token, str):
        return token == char
    return token.match(char) is not None
