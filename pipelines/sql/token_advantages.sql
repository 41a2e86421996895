-- token_advantages: one row per scored token; advantage = teacher − student log-prob (nats).
with tokens as (
    select
        interaction_id,
        run_id,
        round,
        reply_source,
        unnest(range(n_tokens)) as position,
        unnest(token_ids) as token_id,
        unnest(token_texts) as token,
        unnest(student_logprobs) as student_logprob,
        unnest(teacher_logprobs) as teacher_logprob
    from scores
),

final as (
    select
        tokens.*,
        teacher_logprob - student_logprob as advantage
    from tokens
)

select * from final
