"""Write a large synthetic WildChat-1M-shaped JSONL dump for the ingest benchmark.

Input: --n lines, --files K, --seed S. Output: DIR/wildchat-0000k-of-0000K.jsonl and DIR/dump.json (what was
planted: malformed lines by defect, duplicate lines, edge cases). Texts are slices of a word-salad corpus drawn
with numpy, and metadata is spliced in as pre-serialised byte fragments, so 1M conversations take about a
minute on 2 cores. Each file streams to disk in chunks; one worker process per file.
Run: python benchmarks/make_dump.py --n 200000 --out /tmp/afterword-dump
"""

import argparse
import json
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import orjson

    def dump_string(text: str) -> bytes:
        return orjson.dumps(text)
except ImportError:  # orjson is optional; stdlib json is ~3x slower here but gives identical bytes

    def dump_string(text: str) -> bytes:
        return json.dumps(text, ensure_ascii=False).encode("utf-8")


CHUNK = 4000  # records built per numpy draw; bounds memory at a few tens of MB per worker
CORPUS_WORDS = 400_000  # ~2.5 MB of text per language: enough that random slices rarely repeat

# Per-conversation rates. WildChat-1M has ~2.5 user turns on average; the rest are the edge cases ingest filters.
USER_TURN_PROBS = [0.30, 0.27, 0.20, 0.12, 0.07, 0.04]  # 1..6 user turns, mean 2.51
P_FOREIGN = 0.03
P_NULL_LANGUAGE = 0.01
P_MALFORMED = 0.005
P_DUPLICATE = 0.005
P_SYSTEM_FIRST = 0.01
P_BLANK_MESSAGE = 0.005
P_DOUBLE_USER = 0.005
P_TOXIC = 0.01
P_OVERLONG_MESSAGE = 0.003  # one message of 4.2k-12k chars
P_HUGE_CONVERSATION = 0.0001  # 13 exchanges of ~4k chars: over the 100k total-chars limit, no single message over 4,096
P_LONG_USER_PASTE = 0.03  # user pastes 400-3,000 chars (code, an essay to fix, ...)

DEFECTS = [
    "truncated",
    "json_array",
    "no_conversation",
    "conversation_string",
    "unknown_role",
    "numeric_content",
    "empty_conversation",
    "invalid_utf8",
]

# ---------------------------------------------------------------- vocabularies and metadata pools

ENGLISH_WORDS = (  # space-separated; repeats make function words frequent, as in real text
    "the the the of of and and to to a a in in is is it you you that that for for on with as are this be "
    "I I my can can your have not what what how how do does will would should could please help me explain "
    "write code function data file error time year people way day thing work system problem question answer "
    "example list story email report project team student teacher company market price value number table "
    "python java script model result test user name text word page book game music movie city country world "
    "make use find give take know think want need look feel try call keep start show hear play run move live "
    "believe bring happen provide include continue set learn change lead understand watch follow stop create "
    "speak read allow add spend grow open walk win offer remember love consider appear buy wait serve die send "
    "good new first last long great little own other old right big high different small large next early young "
    "important few public bad same able simple clear easy quick short best better main full sure free real "
    "because about after before when where while if then than also just only very really more most some any "
    "each every many much such here there now again still already always often never sometimes today tomorrow"
)
FOREIGN_WORDS = {
    "Spanish": (
        "el el la la de de que que y y en en un una es por con para los las se no lo como más pero sus le ya o "
        "fue este ha sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos "
        "durante todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras "
        "otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros "
        "escribe explica correo función código ejemplo tiempo trabajo empresa ciudad mundo libro historia"
    ),
    "French": (
        "le le la la de de et et les des un une est en que qui dans pour pas sur au avec il elle ce se ne plus "
        "par je nous vous tout mais comme ou son sa ses leur très bien faire être avoir dire pouvoir aller voir "
        "savoir vouloir venir falloir devoir croire trouver donner prendre parler aimer passer mettre écris "
        "explique courriel fonction exemple temps travail entreprise ville monde livre histoire merci peux-tu"
    ),
    "German": (
        "der der die die das und und in zu den nicht von sie ist des sich mit dem dass er es ein eine ich auf "
        "so eine auch als an nach wie im für man aber aus durch wenn nur war noch werden bei hat wir was wird "
        "sein einen welche sind oder zur um haben einer mir über ihm diese einem ihr uns da zum kann doch vor "
        "dieser mich ihn du hatte seine mehr am denn nun unter sehr selbst schon hier bis habe ihre dann ihnen "
        "schreibe erkläre bitte Funktion Beispiel Zeit Arbeit Firma Stadt Welt Buch Geschichte danke"
    ),
    "Russian": (
        "и и в в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь год "
        "от так о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один как уже до "
        "время если сам когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень "
        "напиши объясни пожалуйста функция пример работа компания город мир книга история спасибо"
    ),
    "Chinese": (
        "的 的 一 是 是 不 了 了 在 人 有 我 他 这 个 们 中 来 上 大 为 和 国 地 到 以 说 时 要 "
        "就 出 会 可 也 你 对 生 能 而 子 那 得 于 着 下 自 之 年 过 发 后 作 里 用 道 行 所 "
        "然 家 种 事 成 方 多 经 么 去 法 学 如 都 同 现 当 没 请 写 解释 函数 例子 时间 工作 "
        "公司 城市 世界 书 故事 谢谢 帮 我 一下"
    ),
}
PLACES = {
    "English": [
        (b"United States", b"California", b"en-US,en;q=0.9"),
        (b"United States", b"Texas", b"en-US,en;q=0.9"),
        (b"United Kingdom", b"England", b"en-GB,en;q=0.9"),
        (b"India", b"Maharashtra", b"en-IN,en-GB;q=0.9,en;q=0.8"),
        (b"Canada", b"Ontario", b"en-CA,en-US;q=0.9,en;q=0.8"),
        (b"Australia", b"New South Wales", b"en-AU,en;q=0.9"),
    ],
    "Spanish": [(b"Spain", b"Madrid", b"es-ES,es;q=0.9"), (b"Mexico", b"Jalisco", b"es-MX,es;q=0.9")],
    "French": [(b"France", b"\xc3\x8ele-de-France", b"fr-FR,fr;q=0.9")],
    "German": [(b"Germany", b"Bavaria", b"de-DE,de;q=0.9,en;q=0.8")],
    "Russian": [(b"Russia", b"Moscow", b"ru-RU,ru;q=0.9,en;q=0.8")],
    "Chinese": [(b"China", b"Beijing", b"zh-CN,zh;q=0.9")],
}
USER_AGENTS = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/17.1 Safari/605.1.15",
    b"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
    b"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
]
MODELS = [b"gpt-3.5-turbo-0613", b"gpt-4-0314", b"gpt-4-1106-preview"]
MODEL_PROBS = [0.6, 0.15, 0.25]
# Both spellings, as in WildChat-1M (slash from the old moderation API, underscore from the v1 client).
MODERATION_CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "harassment_threatening",
    "hate",
    "hate/threatening",
    "hate_threatening",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "self_harm",
    "self_harm_instructions",
    "self_harm_intent",
    "sexual",
    "sexual/minors",
    "sexual_minors",
    "violence",
    "violence/graphic",
    "violence_graphic",
]
DETOXIFY_FIELDS = ["identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit", "threat", "toxicity"]
START_EPOCH_S = 1681000000  # 2023-04-09, start of WildChat-1M
SPAN_S = 386 * 86400


@dataclass(frozen=True)
class DumpConfig:
    n_lines: int  # total lines over all files, malformed and duplicate lines included
    n_files: int  # number of .jsonl files; one writer process each
    seed: int  # same seed and sizes give byte-identical files
    out_dir: Path  # created if missing; existing wildchat-*.jsonl files there are overwritten

    def __post_init__(self) -> None:
        if self.n_lines < 1 or self.n_files < 1:
            raise ValueError(f"need --n >= 1 and --files >= 1, got n={self.n_lines}, files={self.n_files}")


def build_corpus(rng: np.random.Generator, words: list[str], joiner: str) -> str:
    """A long run of sentences drawn from words; messages are slices of it."""
    picks = np.array(words, dtype=object)[rng.integers(0, len(words), CORPUS_WORDS)]
    lengths = rng.integers(5, 19, CORPUS_WORDS // 8)
    ends = np.cumsum(lengths)
    ends = ends[ends < CORPUS_WORDS]
    enders = np.array([".", ".", ".", "?", "!"] if joiner else ["。", "。", "？"], dtype=object)
    for end in ends:
        picks[end - 1] = picks[end - 1] + enders[end % len(enders)]
    starts = np.concatenate([[0], ends])
    picks[starts[starts < CORPUS_WORDS]] = [w[:1].upper() + w[1:] for w in picks[starts[starts < CORPUS_WORDS]]]
    return joiner.join(picks.tolist())


def slice_text(corpus: str, start: int, length: int, sentence_end: str) -> str:
    """About `length` characters of corpus from the first sentence start after `start`, ending between words."""
    begin = corpus.find(sentence_end, start) + len(sentence_end)
    end = corpus.rfind(" ", begin, begin + length)
    return corpus[begin : end if end > begin + length // 2 else begin + length]


def moderation_fragments(rng: np.random.Generator, flagged: bool, count: int) -> list[bytes]:
    """Pre-serialised openai_moderation entries; scores are tiny unless flagged (harassment)."""
    out = []
    for _ in range(count):
        scores = {c: float(f"{rng.uniform(1, 9):.2f}e-{rng.integers(3, 8)}") for c in MODERATION_CATEGORIES}
        categories = dict.fromkeys(MODERATION_CATEGORIES, False)
        if flagged:
            for c in ("harassment",):
                categories[c], scores[c] = True, round(float(rng.uniform(0.5, 0.98)), 6)
        entry = {"categories": categories, "category_scores": scores, "flagged": flagged}
        out.append(json.dumps(entry, separators=(",", ":")).encode())
    return out


def detoxify_fragments(rng: np.random.Generator, toxic: bool, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        entry = {f: float(f"{rng.uniform(1, 9):.2f}e-{rng.integers(3, 6)}") for f in DETOXIFY_FIELDS}
        if toxic:
            entry["toxicity"] = round(float(rng.uniform(0.6, 0.99)), 6)
            entry["insult"] = round(float(rng.uniform(0.3, 0.9)), 6)
        out.append(json.dumps(entry, separators=(",", ":")).encode())
    return out


class RecordWriter:
    """Builds JSONL lines for one file; all randomness comes from the generator it was given."""

    def __init__(self, seed: int) -> None:
        # Corpora and fragments depend only on the seed, so every worker builds the same ones.
        rng = np.random.default_rng([seed, 0])
        self.corpora = {"English": build_corpus(rng, ENGLISH_WORDS.split(), " ")}
        for language, words in FOREIGN_WORDS.items():
            self.corpora[language] = build_corpus(rng, words.split(), "" if language == "Chinese" else " ")
        self.foreign = list(FOREIGN_WORDS)
        self.mod_clean = moderation_fragments(rng, False, 64)
        self.mod_flagged = moderation_fragments(rng, True, 8)
        self.detox_clean = detoxify_fragments(rng, False, 64)
        self.detox_toxic = detoxify_fragments(rng, True, 8)

    def text(self, language: str, start_fraction: float, length: int) -> str:
        corpus = self.corpora[language]
        if language == "Chinese":
            length = max(8, length // 3)  # ~3 bytes per character; keeps byte sizes comparable
            return slice_text(corpus, int(start_fraction * (len(corpus) - length - 64)), length, "。")
        return slice_text(corpus, int(start_fraction * (len(corpus) - length - 64)), length, ". ")

    def chunk(self, rng: np.random.Generator, n: int, allow_defects: bool) -> tuple[list[bytes], dict]:
        """n lines (records, some made malformed) and counts of what was planted."""
        # Every draw is one vectorised call per chunk; the per-record loop below only indexes Python lists.
        u = rng.random((n, 8))  # one uniform per record per decision
        huge = u[:, 1] < P_HUGE_CONVERSATION
        n_user = rng.choice(np.arange(1, 7), size=n, p=USER_TURN_PROBS)
        n_user[huge] = 13
        first = np.cumsum(n_user) - n_user  # index of each record's first user turn in the flat arrays
        m = int(n_user.sum())
        user_len = np.clip(rng.lognormal(np.log(90), 0.9, m), 20, 400).astype(int)
        paste = rng.random(m) < P_LONG_USER_PASTE
        user_len[paste] = rng.integers(400, 3000, int(paste.sum()))
        reply_len = np.clip(rng.lognormal(np.log(900), 0.6, m), 200, 2500).astype(int)
        overlong = (u[:, 2] < P_OVERLONG_MESSAGE) & ~huge
        reply_len[(first + n_user - 1)[overlong]] = rng.integers(4200, 12000, int(overlong.sum()))
        for k in range(13):
            user_len[first[huge] + k] = reply_len[first[huge] + k] = 4000
        user_start, reply_start = rng.random(m).tolist(), rng.random(m).tolist()
        user_len, reply_len = user_len.tolist(), reply_len.tolist()
        ids = rng.bytes(16 * n).hex()
        hashed_ips = rng.bytes(32 * n).hex()
        stamps = np.datetime_as_string((START_EPOCH_S + rng.integers(0, SPAN_S, n)).astype("datetime64[s]"), unit="s")
        models = rng.choice(len(MODELS), size=n, p=MODEL_PROBS).tolist()
        turn_ids = rng.integers(10**6, 10**8, n).tolist()
        picks = rng.integers(0, 64, n).tolist()
        planted = {
            "huge_conversation": int(huge.sum()),
            "overlong_message": int(overlong.sum()),
            "toxic": int((u[:, 5] < P_TOXIC).sum()),
            "language_null": int((u[:, 7] < P_NULL_LANGUAGE).sum()),
        }
        lines = []
        for i, (row, f) in enumerate(zip(u.tolist(), first.tolist(), strict=True)):
            language = self.foreign[int(row[0] * 1000) % len(self.foreign)] if row[0] < P_FOREIGN else "English"
            turns = []
            for k in range(f, f + int(n_user[i])):
                turns.append(("user", self.text(language, user_start[k], user_len[k])))
                turns.append(("assistant", self.text(language, reply_start[k], reply_len[k])))
            edge = self.plant_edge_case(turns, row[3])
            if edge:
                planted[edge] = planted.get(edge, 0) + 1
            defect = None
            if allow_defects and row[6] < P_MALFORMED:
                defect = DEFECTS[int(row[6] / P_MALFORMED * len(DEFECTS))]
                planted[f"malformed_{defect}"] = planted.get(f"malformed_{defect}", 0) + 1
            place = PLACES[language][picks[i] % len(PLACES[language])]
            line = self.assemble(
                turns,
                conversation_id=ids[32 * i : 32 * i + 32].encode(),
                model=MODELS[models[i]],
                stamp=stamps[i].encode(),
                language=None if row[7] < P_NULL_LANGUAGE else language,
                place=place,
                agent=USER_AGENTS[picks[i] % len(USER_AGENTS)],
                hashed_ip=hashed_ips[64 * i : 64 * i + 64].encode(),
                toxic_at=0 if row[5] < P_TOXIC else -1,
                defect=defect,
                turn_identifier=turn_ids[i],
                pick=picks[i],
                cut=row[4],
            )
            lines.append(line)
        return lines, planted

    @staticmethod
    def plant_edge_case(turns: list[tuple[str, str]], draw: float) -> str | None:
        """Insert at most one structural edge case into turns (in place); returns its name."""
        if draw < P_SYSTEM_FIRST:
            turns.insert(0, ("system", "You are a helpful assistant."))
            return "system_first"
        if draw < P_SYSTEM_FIRST + P_BLANK_MESSAGE:
            turns.insert(len(turns) - 1, ("user", " \n "))
            return "blank_message"
        if draw < P_SYSTEM_FIRST + P_BLANK_MESSAGE + P_DOUBLE_USER:
            turns.insert(1, ("user", "hello?? are you there"))
            return "double_user"
        return None

    def assemble(
        self,
        turns: list[tuple[str, str]],
        *,
        conversation_id: bytes,
        model: bytes,
        stamp: bytes,
        language: str | None,
        place: tuple[bytes, bytes, bytes],
        agent: bytes,
        hashed_ip: bytes,
        toxic_at: int,  # index of the user turn flagged toxic; -1 = none
        defect: str | None,  # one of DEFECTS, or None for a well-formed line
        turn_identifier: int,
        pick: int,  # seed for walking the pre-serialised moderation fragments
        cut: float,  # where a truncated line is cut, as a fraction of its length
    ) -> bytes:
        """One JSONL line in WildChat-1M key order, with `defect` (if any) applied."""
        country, state, accept_language = place
        language_json = b"null" if language is None else b'"' + language.encode() + b'"'
        header = b'{"accept-language":"%s","user-agent":"%s"}' % (accept_language, agent)
        user_meta = b'"timestamp":null,"country":"%s","state":"%s","hashed_ip":"%s","header":%s' % (
            country,
            state,
            hashed_ip,
            header,
        )
        bot_meta = b'"timestamp":"%s+00:00","country":null,"state":null,"hashed_ip":null,"header":null' % stamp
        messages, moderation, detoxify = [], [], []
        user_index = -1
        wizard_planted = False
        for role, content in turns:
            user_index += role == "user"
            toxic = role == "user" and user_index == toxic_at
            content_json = dump_string(content)
            if defect == "numeric_content" and not messages:
                content_json = b"42"
            elif defect == "invalid_utf8" and not messages:
                content_json = b'"caf\xe9 \xff\xfe' + content_json[1:]  # Latin-1 bytes in a UTF-8 file
            if defect == "unknown_role" and role == "assistant" and not wizard_planted:
                role, wizard_planted = "wizard", True
            messages.append(
                b'{"content":%s,"role":"%s","language":%s,"redacted":false,"toxic":%s,"turn_identifier":%d,%s}'
                % (
                    content_json,
                    role.encode(),
                    language_json,
                    b"true" if toxic else b"false",
                    turn_identifier,
                    user_meta if role == "user" else bot_meta,
                )
            )
            turn_identifier += role != "user"
            pick = (pick * 5 + 1) % 64  # cheap walk over the fragment pool
            moderation.append(self.mod_flagged[pick % 8] if toxic else self.mod_clean[pick])
            detoxify.append(self.detox_toxic[pick % 8] if toxic else self.detox_clean[pick])
        if defect == "empty_conversation":
            conversation = b'"conversation":[],'
        elif defect == "conversation_string":
            conversation = b'"conversation":%s,' % dump_string("\n".join(f"{r}: {c}" for r, c in turns))
        elif defect == "no_conversation":
            conversation = b""
        else:
            conversation = b'"conversation":[' + b",".join(messages) + b"],"
        line = (
            b'{"conversation_hash":"%s","model":"%s","timestamp":"%s+00:00",%s"turn":%d,"language":%s,'
            b'"openai_moderation":[%s],"detoxify_moderation":[%s],"toxic":%s,"redacted":false,"state":"%s",'
            b'"country":"%s","hashed_ip":"%s","header":%s}'
            % (
                conversation_id,
                model,
                stamp,
                conversation,
                sum(r == "user" for r, _ in turns),
                language_json,
                b",".join(moderation),
                b",".join(detoxify),
                b"true" if toxic_at >= 0 else b"false",
                state,
                country,
                hashed_ip,
                header,
            )
        )
        if defect == "truncated":
            line = line[: 20 + int(cut * (len(line) - 21))]
        elif defect == "json_array":
            line = b"[" + line + b"]"
        return line + b"\n"


def file_name(k: int, n_files: int) -> str:
    return f"wildchat-{k:05d}-of-{n_files:05d}.jsonl"


def write_file(cfg: DumpConfig, k: int) -> dict:
    """Write file k of cfg.n_files; returns what was planted in it."""
    writer = RecordWriter(cfg.seed)
    # Duplicates come from a pool that every worker regenerates identically; pool record j is written to file
    # j % K and again to file (j + 1) % K, so about half the duplicate pairs straddle two files.
    n_pool = round(cfg.n_lines * P_DUPLICATE)
    pool, _ = writer.chunk(np.random.default_rng([cfg.seed, 1]), n_pool, allow_defects=False)
    mine = [pool[j] for j in range(n_pool) if j % cfg.n_files == k]
    mine += [pool[j] for j in range(n_pool) if (j + 1) % cfg.n_files == k]
    n_lines = cfg.n_lines // cfg.n_files + (k < cfg.n_lines % cfg.n_files)
    n_fresh = max(0, n_lines - len(mine))
    rng = np.random.default_rng([cfg.seed, 2, k])
    planted: dict[str, int] = {"lines": 0, "pool_lines": len(mine)}
    n_chunks = max(1, -(-n_fresh // CHUNK))
    path = cfg.out_dir / file_name(k, cfg.n_files)
    with path.open("wb") as f:
        for c in range(n_chunks):
            size = n_fresh // n_chunks + (c < n_fresh % n_chunks)
            lines, counts = writer.chunk(rng, size, allow_defects=True)
            lines += mine[c * len(mine) // n_chunks : (c + 1) * len(mine) // n_chunks]
            order = rng.permutation(len(lines))
            f.write(b"".join(lines[j] for j in order))
            planted["lines"] += len(lines)
            for key, value in counts.items():
                planted[key] = planted.get(key, 0) + value
    return planted


def write_dump(cfg: DumpConfig) -> list[Path]:
    """Write all files (in parallel) plus dump.json; returns the file paths in order."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_workers = min(cfg.n_files, multiprocessing.cpu_count())
    with multiprocessing.get_context("fork").Pool(n_workers) as pool:
        per_file = pool.starmap(write_file, [(cfg, k) for k in range(cfg.n_files)])
    paths = [cfg.out_dir / file_name(k, cfg.n_files) for k in range(cfg.n_files)]
    totals: dict[str, int] = {}
    for counts in per_file:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    manifest = {
        "n_lines": totals.pop("lines"),
        "n_files": cfg.n_files,
        "seed": cfg.seed,
        "duplicate_lines": round(cfg.n_lines * P_DUPLICATE),
        "bytes": sum(p.stat().st_size for p in paths),
        "seconds": round(time.perf_counter() - t0, 1),
        "planted": dict(sorted(totals.items())),
        "files": [p.name for p in paths],
    }
    manifest["planted"].pop("pool_lines", None)
    (cfg.out_dir / "dump.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="total lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--files", type=int, default=4, help="number of jsonl files (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    cfg = DumpConfig(n_lines=args.n, n_files=args.files, seed=args.seed, out_dir=args.out)
    write_dump(cfg)
    manifest = json.loads((cfg.out_dir / "dump.json").read_text())
    print(
        f"wrote {manifest['n_lines']:,} lines, {manifest['bytes'] / 1e9:.2f} GB in {manifest['n_files']} files "
        f"to {cfg.out_dir} in {manifest['seconds']} s"
    )


if __name__ == "__main__":
    main()
