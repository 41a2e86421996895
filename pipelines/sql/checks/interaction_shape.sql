-- interaction_shape: x is non-empty, alternates, starts and ends with a user message; y and o are text.
with interactions as (
    select
        interaction_id,
        turn_index,
        context,
        response,
        followup
    from night_interactions
),

final as (
    select interaction_id
    from interactions
    where turn_index < 0
        or len(context) = 0
        or context[1].role != 'user'
        or context[-1].role != 'user'
        or len(list_filter(range(1, len(context)), lambda i: context[i].role = context[i + 1].role)) > 0
        or regexp_matches(response, '^\s*$')
        or regexp_matches(followup, '^\s*$')
)

select * from final
