-- night_rejects: records ingest could not use, plus the records set aside as duplicates.
with parsed_rejects as (
    select
        source_file,
        source_record,
        source_format,
        conversation_id,
        reason,
        detail,
        raw,
        ingest_date
    from staged_rejects
),

duplicates as (
    select
        staged_conversations.source_file,
        staged_conversations.source_record,
        staged_conversations.source_format,
        staged_conversations.conversation_id,
        duplicate_records.reason,
        duplicate_records.detail,
        left(to_json(staged_conversations.messages)::varchar, $raw_chars) as raw,
        staged_conversations.ingest_date
    from staged_conversations
    inner join duplicate_records
        on staged_conversations.source_file = duplicate_records.source_file
        and staged_conversations.source_record = duplicate_records.source_record
),

final as (
    select * from parsed_rejects
    union all
    select * from duplicates
)

select * from final
order by source_file, source_record
