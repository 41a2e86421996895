-- filter_report: rows removed per rule and level, plus what was kept.
with conversations as (
    select drop_reason
    from conversation_verdicts
),

interactions as (
    select drop_reason
    from interaction_verdicts
),

final as (
    select
        'conversation' as level,
        coalesce(drop_reason, 'kept') as reason,
        count(*)::bigint as rows,
        $ingest_date::date as ingest_date
    from conversations
    group by all
    union all
    select
        'interaction' as level,
        coalesce(drop_reason, 'kept') as reason,
        count(*)::bigint as rows,
        $ingest_date::date as ingest_date
    from interactions
    group by all
)

select * from final
order by level, reason
