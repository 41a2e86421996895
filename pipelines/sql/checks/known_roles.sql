-- known_roles: every stored message has a normalised role.
with messages as (
    select
        conversation_id,
        unnest(messages).role as role
    from night_conversations
),

final as (
    select *
    from messages
    where role not in ('user', 'assistant', 'system', 'tool') or role is null
)

select * from final
