-- find_duplicate_records: records whose conversation_id is stored on another night (earlier or later), or appeared
-- earlier in this night's inputs (first occurrence by file and record number wins).
with staged as (
    select
        conversation_id,
        source_file,
        source_record
    from staged_conversations
),

earlier as (
    select distinct conversation_id
    from earlier_conversations
),

ranked as (
    select
        staged.conversation_id,
        staged.source_file,
        staged.source_record,
        row_number() over (
            partition by staged.conversation_id
            order by staged.source_file, staged.source_record
        ) as occurrence,
        earlier.conversation_id is not null as seen_before
    from staged
    left join earlier
        on staged.conversation_id = earlier.conversation_id
),

final as (
    select
        source_file,
        source_record,
        conversation_id,
        case
            when seen_before then $already_ingested
            else $duplicate_id
        end as reason,
        case
            when seen_before then 'conversation_id stored on another night'
            else 'conversation_id appeared earlier in this run'
        end as detail
    from ranked
    where seen_before or occurrence > 1
)

select * from final
