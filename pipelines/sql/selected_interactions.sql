-- selected_interactions: the interactions every rule kept, in the interactions table's column order.
with verdicts as (
    select *
    from interaction_verdicts
),

final as (
    select
        interaction_id,
        conversation_id,
        turn_index,
        context,
        response,
        followup,
        model,
        language,
        timestamp,
        source_format,
        content_hash,
        ingest_date
    from verdicts
    where drop_reason is null
    order by source_file, source_record, turn_index
)

select * from final
