"""IngestConfig: how ingest reads, checks and keeps records (one frozen config, `[ingest]` in the TOML).

Its own module because every part of ingest takes it: the stage (`pipelines/ingest.py`), the per-record checks
(`pipelines/normalise.py`), the rejects row (`pipelines/rejects.py`), the language guess
(`pipelines/language.py`) and the Arrow path (`pipelines/arrow_ingest.py`). The flows nest it in `RunConfig`.
"""

from dataclasses import dataclass

from pipelines.formats import FORMATS, MAX_RECORD_BYTES


@dataclass(frozen=True)
class IngestConfig:
    input_format: str | None = None  # force one of FORMATS for every file; None = detect per file
    max_record_bytes: int = MAX_RECORD_BYTES  # larger raw records are rejected as oversized_record (bytes)
    keep_private_fields: bool = False  # keep WildChat's hashed_ip and header, in conversations and rejects.raw
    detect_language: bool = True  # guess the language with py3langid when the metadata has none
    language_sample_chars: int = 2000  # characters of user text the language guess reads
    reject_raw_chars: int = 2000  # characters of raw text copied into rejects.raw

    def __post_init__(self):
        if self.input_format is not None and self.input_format not in FORMATS:
            raise ValueError(f"input_format={self.input_format!r}: use one of {FORMATS} or leave it unset")
        if self.max_record_bytes < 1:
            raise ValueError("max_record_bytes must be >= 1 (bytes)")
        if self.language_sample_chars < 1 or self.reject_raw_chars < 0:
            raise ValueError("language_sample_chars must be >= 1 and reject_raw_chars >= 0")
