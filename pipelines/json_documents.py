"""A JSON file's text → its records as raw JSON bytes, keeping what a broken array held before the damage.

`parse_json_document` splits a JSON array into its elements (or takes one document as one record) without
judging them: a broken array yields its intact elements and why the rest was lost, and an element nested deeper
than Python's parser goes is kept as written, for ingest to reject. `pipelines/sources.py` reads `.json` and
`.json.gz` chunks through it; `pipelines/format_sniffing.py` reads the top of a file through it.
"""

import json

import orjson

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, which some dumps start with


def parse_json_document(data: bytes) -> tuple[list[bytes], str]:
    """A JSON array's elements (or one document) as raw JSON; for a broken array, its intact elements and
    why the rest was lost."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not text.lstrip().startswith("["):
            return [data], ""  # one record: ingest names the defect (malformed_json / invalid_utf8)
        return _json_array_prefix(text)
    items = document if isinstance(document, list) else [document]
    return [orjson.dumps(item) for item in items], ""


def _json_array_prefix(text: str) -> tuple[list[bytes], str]:
    decoder = json.JSONDecoder()
    items: list[bytes] = []
    cursor = text.index("[") + 1
    while True:
        while cursor < len(text) and text[cursor] in " \t\r\n,":
            cursor += 1
        if cursor >= len(text):
            return items, f"JSON array cut off after element {len(items) - 1}: the rest of the file is lost"
        if text[cursor] == "]":
            return items, "JSON array followed by extra data" if text[cursor + 1 :].strip() else ""
        try:
            item, cursor = decoder.raw_decode(text, cursor)
        except json.JSONDecodeError as error:
            return items, f"JSON array broken at element {len(items)}: {error}"
        except RecursionError:
            # Nested deeper than Python's parser goes: the element as written, which ingest rejects (orjson
            # names the depth); the elements after it are read on.
            end = _value_end(text, cursor)
            if end < 0:
                return items, f"JSON array cut off in element {len(items)}: the rest of the file is lost"
            items.append(text[cursor:end].encode())
            cursor = end
            continue
        items.append(orjson.dumps(item))


def _value_end(text: str, cursor: int) -> int:
    """Where the JSON value starting at `cursor` ends, found without recursion (brackets counted, strings
    skipped); -1 when the text ends first."""
    depth = 0
    position = cursor
    while position < len(text):
        char = text[position]
        if char == '"':
            position += 1
            while position < len(text) and text[position] != '"':
                position += 2 if text[position] == "\\" else 1
            if depth == 0:
                return position + 1
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return position + 1
        elif depth == 0 and char == ",":
            return position
        position += 1
    return -1
