"""The input formats ingest reads: their names, how a record tells its format, role names, typed records.

`detect_format` names a record's format from its keys (`pipelines/format_sniffing.py` asks it per file); the
per-record path of `pipelines/normalise.py` maps role names through `ROLE_ALIASES`; the msgspec fast path
(`pipelines/fast_ingest.py`) decodes into `RECORD_TYPES[format]`. A new format is a name in `FORMATS`, a rule
in `detect_format`, a Struct in `RECORD_TYPES` and its normaliser in `pipelines/normalise.py`; the command line's
`--format` choices read `FORMATS`.
"""

import msgspec
from msgspec import UNSET, UnsetType

FORMATS = ("wildchat", "lmsys", "sharegpt", "openai")
# What a refused input is told works: the files `pipelines/sources.py` reads and the record shapes above.
INPUTS_THAT_WORK = (
    "inputs that work: .jsonl (or .ndjson), .json (an array), .parquet, .arrow, gzip of the text ones (.jsonl.gz, "
    ".json.gz), folders and globs of them, and Hugging Face datasets (hf:OWNER/NAME, save_to_disk folders); records "
    "in the WildChat, LMSYS-Chat, ShareGPT or OpenAI-messages shape"
)
TABULAR_TEXT = (".csv", ".tsv", ".csv.gz", ".tsv.gz")  # refused by name: a table of text is no conversation format
MAX_RECORD_BYTES = 8 * 1024 * 1024  # the default cap on one raw record (IngestConfig.max_record_bytes), bytes
OVERSIZED_READ = "oversized_record: "  # read_error prefix: the reader passed over a record longer than the cap

ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}


def detect_format(record: dict) -> str | None:
    """Name the input format from one record's keys; None when no known format fits."""
    if "conversation_hash" in record:
        return "wildchat"
    if "conversation_id" in record and "conversation" in record:
        # The older WildChat release also used `conversation_id`; only it carries these fields.
        wildchat_only = ("timestamp", "toxic", "detoxify_moderation", "country")
        return "wildchat" if any(k in record for k in wildchat_only) else "lmsys"
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai"
    if "conversation" in record:
        return "wildchat"
    return None


Id = str | int | None


class _Message(msgspec.Struct, gc=False):
    role: str
    content: str


class _ShareGPTMessage(msgspec.Struct, gc=False, rename={"role": "from", "content": "value"}):
    role: str
    content: str


class _Moderation(msgspec.Struct, gc=False):
    flagged: bool | None = None


class _Record(msgspec.Struct, gc=False, kw_only=True):
    """The metadata every format may carry; `_finish` in pipelines/normalise.py reads these by name."""

    model: str | None = None
    timestamp: str | int | float | None = None
    language: str | None = None
    toxic: bool | None = None
    redacted: bool | None = None
    country: str | None = None
    state: str | None = None


class WildChatRecord(_Record, kw_only=True):
    messages: list[_Message] = msgspec.field(name="conversation")
    conversation_hash: Id | UnsetType = UNSET
    conversation_id: Id | UnsetType = UNSET
    openai_moderation: list[_Moderation] | None = None
    hashed_ip: str | None = None
    header: msgspec.Raw = msgspec.Raw(b"null")  # read by orjson only when private fields are kept

    def source_id(self) -> Id:
        """`record.get("conversation_hash", record.get("conversation_id"))`."""
        if self.conversation_hash is not UNSET:
            return self.conversation_hash
        return None if self.conversation_id is UNSET else self.conversation_id


class ShareGPTRecord(_Record, kw_only=True):
    messages: list[_ShareGPTMessage] = msgspec.field(name="conversations")
    id: Id = None

    def source_id(self) -> Id:
        return self.id


class OpenAIRecord(_Record, kw_only=True):
    messages: list[_Message]
    id: Id | UnsetType = UNSET
    conversation_id: Id | UnsetType = UNSET

    def source_id(self) -> Id:
        """`record.get("id", record.get("conversation_id"))`."""
        if self.id is not UNSET:
            return self.id
        return None if self.conversation_id is UNSET else self.conversation_id


DecodedRecord = WildChatRecord | ShareGPTRecord | OpenAIRecord

RECORD_TYPES = {
    "wildchat": WildChatRecord,
    "lmsys": WildChatRecord,
    "sharegpt": ShareGPTRecord,
    "openai": OpenAIRecord,
}
