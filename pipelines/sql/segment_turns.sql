-- segment_turns: one candidate per usable assistant message directly followed by a usable user message,
-- with its history x built by the published rules and the reason it is unusable (null = kept).
-- Input view `conversations` (conversations rows plus `row_order`); usable = user/assistant with text
-- that is not all whitespace (Python's definition: $whitespace, and the regular expressions made of it).
with usable as (
    select
        row_order,
        conversation_id,
        model,
        language,
        timestamp,
        source_format,
        ingest_date,
        source_file,
        source_record,
        list_filter(
            list_transform(
                messages,
                lambda message, position: {
                    turn_index: position - 1,
                    role: message.role,
                    content: case
                        when $strip_messages and regexp_matches(message.content, $edge_whitespace)
                            then trim(message.content, $whitespace)
                        else message.content
                    end,
                    usable: regexp_matches(message.content, $non_whitespace)
                }
            ),
            lambda message: message.role in ('user', 'assistant') and message.usable
        ) as turns
    from conversations
),

replies as (
    -- `position` is the reply's 1-based place among the usable messages; the follow-up comes next
    select
        usable.*,
        unnest(range(1, len(turns))) as position
    from usable
),

windows as (
    select
        replies.* exclude (turns),
        turns[position] as reply,
        turns[position + 1] as followup,
        list_transform(
            list_slice(turns, greatest(position - $history_messages, 1), position - 1),
            lambda message: {role: message.role, content: message.content}
        ) as recent
    from replies
    where turns[position].role = 'assistant'
        and turns[position + 1].role = 'user'
),

histories as (
    -- leading assistant messages dropped, then a message repeating the previous role dropped
    select
        windows.* exclude (recent),
        list_filter(
            recent,
            lambda message, i: i >= coalesce(nullif(list_position(list_transform(recent, lambda item: item.role), 'user'), 0), len(recent) + 1)
            and (i = 1 or message.role <> recent[i - 1].role)
        ) as context
    from windows
),

final as (
    select
        conversation_id || ':' || reply.turn_index as interaction_id,
        conversation_id,
        reply.turn_index::integer as turn_index,
        context,
        reply.content as response,
        followup.content as followup,
        model,
        language,
        timestamp,
        source_format,
        md5(to_json(context)::varchar || chr(0) || reply.content || chr(0) || followup.content) as content_hash,
        ingest_date,
        source_file,
        source_record,
        case
            when len(context) = 0 then $empty_history
            when context[-1].role <> 'user' then $history_not_ending_with_user
        end as drop_reason
    from histories
    order by row_order, position
)

select * from final
