-- select_interactions: verdicts for the candidates of the selected conversations: segmentation's
-- history rules, then exact (x, y, o) repeats tonight or on other nights, then the sampling cap.
-- Only keys and reasons: the text stays in the staged Parquet until the kept rows are copied from it,
-- so this table stays small enough to hold in memory at a million conversations.
with candidates as (
    select
        staged_interactions.source_file,
        staged_interactions.source_record,
        staged_interactions.turn_index,
        staged_interactions.interaction_id,
        staged_interactions.content_hash,
        staged_interactions.drop_reason as segment_reason
    from staged_interactions
    inner join conversation_verdicts
        on staged_interactions.source_file = conversation_verdicts.source_file
        and staged_interactions.source_record = conversation_verdicts.source_record
    where conversation_verdicts.drop_reason is null
),

earlier as (
    select distinct content_hash
    from earlier_interactions
),

ranked as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.content_hash, candidates.segment_reason is null
            order by candidates.source_file, candidates.source_record, candidates.turn_index
        ) as occurrence,
        earlier.content_hash is not null as seen_before
    from candidates
    left join earlier
        on candidates.content_hash = earlier.content_hash
),

deduplicated as (
    select
        ranked.* exclude (occurrence, seen_before, segment_reason),
        case
            when segment_reason is not null then segment_reason
            when seen_before or occurrence > 1 then $duplicate_interaction
        end as drop_reason
    from ranked
),

capped as (
    select
        deduplicated.*,
        row_number() over (
            partition by drop_reason is null
            order by hash(interaction_id), interaction_id
        ) as sample_rank
    from deduplicated
),

final as (
    select
        capped.* exclude (sample_rank, drop_reason),
        case
            when drop_reason is null and $max_interactions > 0 and sample_rank > $max_interactions
                then $over_sample_cap
            else drop_reason
        end as drop_reason
    from capped
)

select * from final
