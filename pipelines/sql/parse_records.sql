-- parse_records: the raw records the columnar reader can normalise on its own, as conversations rows
-- (language left null where the metadata has none, for detection). A record is kept here only when the
-- per-record path would accept it unchanged: every doubt (a wrong type, a missing field, JSON that DuckDB's
-- reader and orjson might read otherwise) leaves it out, and ingest's per-record path rejects or
-- normalises it instead. The input format's keys come in as parameters; every field is read as JSON text,
-- so its type can be checked, from one parse of the line.
with decoded as (
    select
        row_id,
        try(decode(raw)) as line
    from raw_records
    where read_error is null
        and octet_length(raw) <= $max_record_bytes
),

parsed as materialized (
    select
        row_id,
        try(from_json(line, $structure)) as record,
        -- orjson keeps the last of duplicate keys, DuckDB the first: such records are left out
        try(json_keys(line)) as record_keys,
        try(json_keys(line, $message_keys_path)) as message_keys,
        try(json_keys(line, $moderation_keys_path)) as moderation_keys
    from decoded
    -- orjson refuses what DuckDB's reader allows (NaN, trailing commas, numbers past a double) and may read
    -- NUL and surrogate escapes otherwise
    where line is not null
        and not regexp_matches(line, $doubtful_json)
),

fields as (
    select
        row_id,
        record_keys,
        -- `record.get(primary, record.get(secondary))`: a primary key present with null is not a fallback
        case
            when list_contains(record_keys, $primary_id_key) then struct_extract(record, $primary_id_key)
            else struct_extract(record, $secondary_id_key)
        end as id_json,
        struct_extract(record, $messages_key) as items,
        struct_extract(record, 'openai_moderation') as moderation,
        record.model,
        record.timestamp,
        record.language,
        record.toxic,
        record.redacted,
        record.country,
        record.state
    from parsed
    where record is not null
        and len(record_keys) = len(list_distinct(record_keys))
        and list_bool_and(list_transform(message_keys, lambda keys: len(keys) = len(list_distinct(keys))))
        and coalesce(
            list_bool_and(list_transform(moderation_keys, lambda keys: len(keys) = len(list_distinct(keys)))),
            true
        )
),

checked as materialized (
    select
        row_id,
        id_json ->> '$' as conversation_id,
        list_transform(
            items,
            lambda item: {
                role: $role_values[list_position($role_names, lower(struct_extract(item, $role_key) ->> '$'))],
                content: struct_extract(item, $content_key) ->> '$'
            }
        ) as turns,
        -- one moderation entry per message: its boolean `flagged`, else null
        case
            when $has_moderation and len(moderation) = len(items)
                then list_transform(
                    moderation, lambda entry: case entry.flagged when 'true' then true when 'false' then false end
                )
            else list_transform(items, lambda item: null::boolean)
        end as flags,
        model ->> '$' as model,
        try_cast(replace(timestamp ->> '$', 'Z', '+00:00') as timestamptz) as timestamp,
        nullif(language ->> '$', '') as language,
        case toxic when 'true' then true when 'false' then false end as toxic,
        case redacted when 'true' then true when 'false' then false end as redacted,
        country ->> '$' as country,
        state ->> '$' as state
    from fields
    where starts_with(id_json, '"')
        and id_json <> '""'
        and len(items) > 0
        and list_bool_and(
            list_transform(
                items,
                lambda item: item is not null
                and starts_with(struct_extract(item, $role_key), '"')
                and starts_with(struct_extract(item, $content_key), '"')
                and list_contains($role_names, lower(struct_extract(item, $role_key) ->> '$'))
            )
        )
        and (model is null or starts_with(model, '"'))
        and (language is null or starts_with(language, '"'))
        and (country is null or starts_with(country, '"'))
        and (state is null or starts_with(state, '"'))
        and (toxic is null or toxic in ('true', 'false'))
        and (redacted is null or redacted in ('true', 'false'))
        -- ISO date-times that Python's fromisoformat and DuckDB read alike; epoch numbers are left out
        and (
            timestamp is null
            or starts_with(timestamp, '"')
            and regexp_full_match(timestamp ->> '$', $iso_timestamp)
            and try_cast(replace(timestamp ->> '$', 'Z', '+00:00') as timestamptz) is not null
        )
),

measured as (
    select
        checked.*,
        list_transform(
            list_filter(
                turns, lambda turn: turn.role in ('user', 'assistant') and regexp_matches(turn.content, $non_whitespace)
            ),
            lambda turn: case
                when regexp_matches(turn.content, $edge_whitespace) then length(trim(turn.content, $whitespace))
                else length(turn.content)
            end
        ) as usable_lengths,
        list_filter(flags, lambda flag: flag is not null) as known_flags
    from checked
),

final as (
    select
        row_id,
        conversation_id,
        model,
        timestamp,
        language,
        case when language is not null then 'metadata' end as language_source,
        toxic,
        redacted,
        case when len(known_flags) > 0 then list_bool_or(known_flags) end as moderation_flagged,
        country,
        state,
        list_transform(
            list_zip(turns, flags),
            lambda pair: {role: pair[1].role, content: pair[1].content, flagged: pair[2]}
        ) as messages,
        len(turns)::integer as message_count,
        len(usable_lengths)::integer as usable_message_count,
        coalesce(list_sum(usable_lengths), 0)::bigint as usable_chars,
        coalesce(list_max(usable_lengths), 0)::bigint as longest_usable_message_chars
    from measured
)

select * from final
order by row_id
