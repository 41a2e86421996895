-- unique_conversation_id: no conversation_id is stored twice across all nights.
with conversations as (
    select conversation_id
    from all_conversations
),

final as (
    select
        conversation_id,
        count(*) as copies
    from conversations
    group by conversation_id
    having count(*) > 1
)

select * from final
