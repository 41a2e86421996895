-- advantages: one row per scored reply with its summary and the texts analysts read first.
with scored as (
    select
        interaction_id,
        conversation_id,
        run_id,
        round,
        reply_source,
        model_id,
        model_revision,
        template,
        n_tokens,
        sum_advantage,
        mean_advantage,
        min_advantage,
        max_advantage,
        negative_share,
        context_truncated,
        reply_truncated
    from scores
),

logged as (
    select
        interaction_id,
        model as source_model,
        language,
        ingest_date,
        context[-1].content as last_user_message,
        response,
        followup
    from interactions
),

final as (
    select
        scored.*,
        logged.source_model,
        logged.language,
        logged.ingest_date,
        logged.last_user_message,
        logged.response,
        logged.followup
    from scored
    left join logged
        on scored.interaction_id = logged.interaction_id
)

select * from final
