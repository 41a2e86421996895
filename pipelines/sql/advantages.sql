-- advantages: one row per scored reply with its summary and the texts analysts read first.
-- The reply is the scored one (logged in round 0, sampled in round k); source_model names who wrote it.
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
        response,
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
        model as logged_model,
        language,
        ingest_date,
        context[-1].content as last_user_message,
        response as logged_response,
        followup
    from interactions
),

final as (
    select
        scored.interaction_id,
        scored.conversation_id,
        scored.run_id,
        scored.round,
        scored.reply_source,
        case
            when scored.reply_source = 'logged' then logged.logged_model
            else scored.model_id || ' round ' || scored.round
        end as source_model,
        scored.model_id,
        scored.model_revision,
        scored.template,
        scored.n_tokens,
        scored.sum_advantage,
        scored.mean_advantage,
        scored.min_advantage,
        scored.max_advantage,
        scored.negative_share,
        scored.context_truncated,
        scored.reply_truncated,
        logged.language,
        logged.ingest_date,
        logged.last_user_message,
        -- shards written before replies carried their text: only a logged reply's text is known
        case
            when scored.reply_source = 'logged' then coalesce(scored.response, logged.logged_response)
            else scored.response
        end as response,
        logged.logged_response,
        logged.followup
    from scored
    left join logged
        on scored.interaction_id = logged.interaction_id
)

select * from final
