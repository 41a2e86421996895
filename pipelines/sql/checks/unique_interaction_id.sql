-- unique_interaction_id: no interaction is stored twice across all nights.
with interactions as (
    select interaction_id
    from all_interactions
),

final as (
    select
        interaction_id,
        count(*) as copies
    from interactions
    group by interaction_id
    having count(*) > 1
)

select * from final
