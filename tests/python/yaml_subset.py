"""A strict reader for the YAML subset api/openapi.yaml is written in (the tests are stdlib only):
block mappings and sequences by indentation, one scalar per line (plain, 'single' or "double"
quoted), flow lists of scalars ([a, b]), the empty map {}, and whole-line comments. Anything else
is an error naming the line, rather than a silent misreading."""
import json
import re

_INT = re.compile(r"^-?[0-9]+$")
_FLOAT = re.compile(r"^-?[0-9]+\.[0-9]+$")
_PLAIN_FORBIDDEN_START = tuple("&*!|>%@`{")


class YamlError(ValueError):
    pass


class _Line:
    def __init__(self, number, indent, text):
        self.number = number
        self.indent = indent
        self.text = text


def load(text):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise YamlError(f"line {number}: tabs in indentation")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0].indent)
    if end != len(lines):
        raise YamlError(f"line {lines[end].number}: unexpected indentation")
    return value


def _is_item(line):
    return line.text == "-" or line.text.startswith("- ")


def _block(lines, i, indent):
    if _is_item(lines[i]):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _nested(lines, i, indent):
    """The block after a "key:" or "-" line: more indented, else null."""
    if i < len(lines) and lines[i].indent > indent:
        return _block(lines, i, lines[i].indent)
    return None, i


def _sequence(lines, i, indent):
    items = []
    while i < len(lines) and lines[i].indent == indent and _is_item(lines[i]):
        line = lines[i]
        rest = line.text[1:].lstrip(" ")
        if not rest:
            value, i = _nested(lines, i + 1, indent)
        elif _split_key(rest, line.number, quiet=True) is not None:
            # "- key: value": a mapping whose first entry sits on the item's line.
            lines[i] = _Line(line.number, indent + (len(line.text) - len(rest)), rest)
            value, i = _mapping(lines, i, lines[i].indent)
        else:
            value, i = _scalar(rest, line.number), i + 1
        items.append(value)
    return items, i


def _mapping(lines, i, indent):
    result = {}
    while i < len(lines) and lines[i].indent == indent:
        line = lines[i]
        if _is_item(line):
            raise YamlError(f"line {line.number}: a list item where a key was expected")
        split = _split_key(line.text, line.number)
        key, rest = split
        if key in result:
            raise YamlError(f"line {line.number}: duplicate key {key!r}")
        if rest:
            result[key], i = _scalar(rest, line.number), i + 1
        else:
            result[key], i = _nested(lines, i + 1, indent)
    if i < len(lines) and lines[i].indent > indent:
        raise YamlError(f"line {lines[i].number}: unexpected indentation")
    return result, i


def _split_key(text, number, quiet=False):
    """("key", "rest") for "key: rest" or "key:", else None (quiet) or an error."""
    if text[0] in "'\"":
        end = _closing_quote(text, number)
        key = _scalar(text[:end + 1], number)
        after = text[end + 1:]
        if after == ":" or after.startswith(": "):
            return key, after[1:].strip()
    else:
        match = re.match(r"^([^:#'\"\[\],]+?):(?: (.*))?$", text)
        if match and not text.startswith(("[", "{")):
            return match.group(1), (match.group(2) or "").strip()
    if quiet:
        return None
    raise YamlError(f"line {number}: expected 'key: value', got {text!r}")


def _closing_quote(text, number):
    quote = text[0]
    i = 1
    while i < len(text):
        if quote == "'" and text[i] == "'":
            if text[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        if quote == '"':
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i
        i += 1
    raise YamlError(f"line {number}: unterminated quoted string")


def _scalar(text, number):
    if text[0] in "'\"":
        end = _closing_quote(text, number)
        if end != len(text) - 1:
            raise YamlError(f"line {number}: text after a quoted string: {text!r}")
        if text[0] == "'":
            return text[1:-1].replace("''", "'")
        return json.loads(text)
    if text == "{}":
        return {}
    if text.startswith("["):
        if not text.endswith("]"):
            raise YamlError(f"line {number}: a flow list must end on its line")
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), number) for part in inner.split(",")] if inner else []
    if text.startswith(_PLAIN_FORBIDDEN_START) or ": " in text or " #" in text:
        raise YamlError(f"line {number}: not in the supported subset (quote it): {text!r}")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
