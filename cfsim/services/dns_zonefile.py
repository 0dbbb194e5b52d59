"""BIND zone files: render a zone the way Cloudflare exports it, and read one to import.

Pure functions: :func:`render_bind` takes records (API dicts) and the serial, and
:func:`parse_bind` returns record fields ready for ``dns_rules.normalize_record``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TTL_AUTO = 1
# Cloudflare's SOA: its name server, dns.cloudflare.com and these timers [I: dig of CF zones].
SOA_MAILBOX = "dns.cloudflare.com."
SOA_TIMERS = "10000 2400 604800 3600"
_TTL_TOKEN = re.compile(r"^(\d+[smhdwSMHDW]?)+$")
_TTL_PART = re.compile(r"(\d+)([smhdwSMHDW]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_CF_TAGS = re.compile(r"cf_tags=(\S*)")
_CLASSES = ("IN", "CH", "HS", "CS")


def _quote_txt(content: str) -> str:
    if content.startswith('"'):
        return content
    escaped = content.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [escaped[i : i + 255] for i in range(0, len(escaped), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def rdata(record: Mapping[str, Any]) -> str:
    """The presentation-format RDATA of a record, as in a zone file."""
    rtype, content = record["type"], str(record["content"])
    if rtype in ("CNAME", "NS", "PTR"):
        return content + "."
    if rtype == "MX":
        return f"{record['priority']} {content}."
    if rtype == "TXT":
        return _quote_txt(content)
    if rtype == "SRV":
        data = record["data"]
        return f"{data['priority']} {data['weight']} {data['port']} {data['target']}."
    return content


def render_bind(
    zone: str,
    name_servers: Sequence[str],
    serial: int,
    records: Iterable[Mapping[str, Any]],
    exported_at: datetime,
) -> str:
    """A BIND zone file of the zone, laid out like Cloudflare's export.

    Proxied state and tags ride in a trailing ``; cf_tags=cf-proxied:true,...`` comment, which
    :func:`parse_bind` (and Cloudflare's import) reads back; a record comment precedes it.
    """
    lines = [
        ";;",
        f";; Domain:     {zone}.",
        f";; Exported:   {exported_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        ";;",
        ";; This file is intended for use for informational and archival",
        ";; purposes ONLY and MUST be edited before use on a production",
        ";; DNS server.  In particular, you must:",
        ";;   -- update the SOA record with the correct authoritative name server",
        ";;   -- update the SOA record with the contact e-mail address information",
        ";;   -- update the NS record(s) with the authoritative name servers for this domain.",
        ";;",
        "",
        ";; SOA Record",
        f"{zone}.\t3600\tIN\tSOA\t{name_servers[0]}. {SOA_MAILBOX} {serial} {SOA_TIMERS}",
        "",
        ";; NS Records",
        *(f"{zone}.\t86400\tIN\tNS\t{ns}." for ns in name_servers),
    ]
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_type.setdefault(record["type"], []).append(record)
    for rtype in sorted(by_type):
        lines += ["", f";; {rtype} Records"]
        for record in sorted(by_type[rtype], key=lambda r: (r["name"], str(r["content"]))):
            line = f"{record['name']}.\t{record['ttl']}\tIN\t{rtype}\t{rdata(record)}"
            cf_tags = (
                [f"cf-proxied:{str(record['proxied']).lower()}"] if record["proxiable"] else []
            )
            cf_tags += list(record.get("tags") or [])
            note = " ".join(
                part
                for part in (record.get("comment") or "", f"cf_tags={','.join(cf_tags)}")
                if part and part != "cf_tags="
            )
            lines.append(f"{line} ; {note}" if note else line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ParsedRecord:
    """One resource record read from a zone file, before Cloudflare's validation."""

    line: int
    fields: dict[str, Any]


class ZoneFileError(ValueError):
    """A zone file that cannot be read, with the line at fault."""


@dataclass
class _Token:
    text: str
    quoted: bool


def _split_comment(line: str) -> tuple[str, str]:
    quoted = escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:index], line[index + 1 :]
    return line, ""


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            digits = text[index + 1 : index + 4]
            if len(digits) == 3 and digits.isdigit():
                out.append(chr(int(digits)))
                index += 4
                continue
            out.append(text[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _tokenize(data: str, line_no: int) -> tuple[list[_Token], int]:
    """Tokens of one physical line and the parenthesis depth change it carries."""
    tokens: list[_Token] = []
    depth = 0
    index = 0
    while index < len(data):
        char = data[index]
        if char.isspace():
            index += 1
        elif char in "()":
            depth += 1 if char == "(" else -1
            index += 1
        elif char == '"':
            end = index + 1
            while end < len(data) and data[end] != '"':
                end += 2 if data[end] == "\\" else 1
            if end >= len(data):
                raise ZoneFileError(f"line {line_no}: unterminated quoted string")
            tokens.append(_Token(_unescape(data[index + 1 : end]), quoted=True))
            index = end + 1
        else:
            end = index
            while end < len(data) and not data[end].isspace() and data[end] not in '()"':
                end += 1
            tokens.append(_Token(data[index:end], quoted=False))
            index = end
    return tokens, depth


def _seconds(token: str) -> int:
    return sum(int(n) * _TTL_UNITS[u.lower()] for n, u in _TTL_PART.findall(token))


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin + "."
    return name if name.endswith(".") else f"{name}.{origin}."


def _logical_lines(text: str) -> Iterable[tuple[int, bool, list[_Token], str]]:
    """(first line number, starts with blank, tokens, comment) per logical record line."""
    depth = 0
    start = 0
    indented = False
    tokens: list[_Token] = []
    comments: list[str] = []
    for number, physical in enumerate(text.splitlines(), start=1):
        data, comment = _split_comment(physical)
        line_tokens, change = _tokenize(data, number)
        if depth == 0:
            start, indented, tokens, comments = number, physical[:1].isspace(), [], []
        tokens += line_tokens
        if comment.strip():
            comments.append(comment.strip())
        depth += change
        if depth < 0:
            raise ZoneFileError(f"line {number}: unbalanced ')'")
        if depth == 0 and tokens:
            yield start, indented, tokens, " ".join(comments)
    if depth:
        raise ZoneFileError(f"line {start}: unbalanced '('")


def _cf_tags(comment: str) -> tuple[str | None, bool | None, list[str]]:
    """Split a record comment into its text, cf-proxied flag and tags."""
    found = _CF_TAGS.search(comment)
    if not found:
        return (comment.strip() or None), None, []
    proxied: bool | None = None
    tags: list[str] = []
    for item in filter(None, found.group(1).split(",")):
        if item.startswith("cf-proxied:"):
            proxied = item.split(":", 1)[1] == "true"
        else:
            tags.append(item)
    text = (comment[: found.start()] + comment[found.end() :]).strip()
    return (text or None), proxied, tags


def _record_fields(
    rtype: str, rdata_tokens: list[_Token], owner: str, ttl: int, origin: str, line: int
) -> dict[str, Any]:
    texts = [t.text for t in rdata_tokens]

    def need(count: int) -> None:
        if len(texts) != count:
            raise ZoneFileError(f"line {line}: {rtype} needs {count} RDATA fields, got {texts}")

    fields: dict[str, Any] = {"type": rtype, "name": owner, "ttl": ttl}
    if rtype in ("A", "AAAA"):
        need(1)
        fields["content"] = texts[0]
    elif rtype in ("CNAME", "NS", "PTR"):
        need(1)
        fields["content"] = _absolute(texts[0], origin)
    elif rtype == "MX":
        need(2)
        if not texts[0].isdigit():
            raise ZoneFileError(f"line {line}: MX preference must be a number")
        fields["priority"] = int(texts[0])
        fields["content"] = _absolute(texts[1], origin)
    elif rtype == "TXT":
        if not texts:
            raise ZoneFileError(f"line {line}: TXT needs at least one string")
        joiner = "" if all(t.quoted for t in rdata_tokens) else " "
        fields["content"] = joiner.join(texts)
    elif rtype == "CAA":
        need(3)
        if not texts[0].isdigit():
            raise ZoneFileError(f"line {line}: CAA flags must be a number")
        fields["data"] = {"flags": int(texts[0]), "tag": texts[1], "value": texts[2]}
    elif rtype == "SRV":
        need(4)
        if not all(t.isdigit() for t in texts[:3]):
            raise ZoneFileError(f"line {line}: SRV priority, weight and port must be numbers")
        fields["data"] = {
            "priority": int(texts[0]),
            "weight": int(texts[1]),
            "port": int(texts[2]),
            "target": _absolute(texts[3], origin),
        }
    else:
        raise ZoneFileError(f"line {line}: record type {rtype} is not supported")
    return fields


def parse_bind(text: str, zone: str) -> list[ParsedRecord]:
    """Read the records of a BIND zone file (``$ORIGIN``, ``$TTL``, parentheses, comments).

    Names come out absolute with a trailing dot; the SOA is skipped (Cloudflare owns it);
    ``cf_tags`` comments set ``proxied`` and ``tags``. Raises :class:`ZoneFileError`.
    """
    origin = zone.lower().removesuffix(".")
    default_ttl: int | None = None
    previous_owner: str | None = None
    parsed: list[ParsedRecord] = []
    for line, indented, tokens, comment in _logical_lines(text):
        head = tokens[0].text
        if head.upper() == "$ORIGIN":
            if len(tokens) != 2:
                raise ZoneFileError(f"line {line}: $ORIGIN needs one name")
            origin = _absolute(tokens[1].text, origin).removesuffix(".").lower()
            continue
        if head.upper() == "$TTL":
            if len(tokens) != 2 or not _TTL_TOKEN.match(tokens[1].text):
                raise ZoneFileError(f"line {line}: $TTL needs one duration")
            default_ttl = _seconds(tokens[1].text)
            continue
        if head.startswith("$"):
            raise ZoneFileError(f"line {line}: directive {head} is not supported")
        rest = list(tokens)
        if indented:
            if previous_owner is None:
                raise ZoneFileError(f"line {line}: record without an owner name")
            owner = previous_owner
        else:
            owner = _absolute(rest.pop(0).text, origin).lower()
        previous_owner = owner
        ttl = default_ttl
        for _ in range(2):
            if rest and not rest[0].quoted and rest[0].text.upper() in _CLASSES:
                rest.pop(0)
            elif rest and not rest[0].quoted and _TTL_TOKEN.match(rest[0].text):
                ttl = _seconds(rest.pop(0).text)
        if not rest:
            raise ZoneFileError(f"line {line}: record without a type")
        rtype = rest.pop(0).text.upper()
        if rtype == "SOA":
            continue
        fields = _record_fields(rtype, rest, owner, ttl or TTL_AUTO, origin, line)
        fields["comment"], fields["proxied"], fields["tags"] = _cf_tags(comment)
        parsed.append(ParsedRecord(line=line, fields=fields))
    return parsed
