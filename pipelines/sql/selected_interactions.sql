-- selected_interactions: the interactions every rule kept, in the interactions table's column order.
with candidates as (
    select *
    from staged_interactions
),

kept as (
    select
        source_file,
        source_record,
        turn_index
    from interaction_verdicts
    where drop_reason is null
),

final as (
    select
        candidates.interaction_id,
        candidates.conversation_id,
        candidates.turn_index,
        candidates.context,
        candidates.response,
        candidates.followup,
        candidates.model,
        candidates.language,
        candidates.timestamp,
        candidates.source_format,
        candidates.content_hash,
        candidates.ingest_date
    from candidates
    semi join kept
        on candidates.source_file = kept.source_file
        and candidates.source_record = kept.source_record
        and candidates.turn_index = kept.turn_index
    order by candidates.source_file, candidates.source_record, candidates.turn_index
)

select * from final
