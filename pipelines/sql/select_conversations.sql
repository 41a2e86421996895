-- select_conversations: one verdict per stored conversation; the first failing rule names the reason.
with conversations as (
    select
        conversation_id,
        source_file,
        source_record,
        language,
        toxic,
        redacted,
        moderation_flagged,
        model,
        timestamp,
        usable_message_count,
        usable_chars,
        longest_usable_message_chars
    from night_conversations
),

final as (
    select
        conversation_id,
        source_file,
        source_record,
        case
            when len($languages) > 0 and (language is null or not list_contains($languages, language))
                then $wrong_language
            when $drop_toxic and coalesce(toxic, false) then $toxic
            when $drop_redacted and coalesce(redacted, false) then $redacted
            when $drop_flagged and coalesce(moderation_flagged, false) then $moderation_flagged
            when len($models) > 0 and (model is null or not list_contains($models, model))
                then $model_not_selected
            when ($start_date is not null or $end_date is not null)
                and (
                    timestamp is null
                    or timestamp < coalesce($start_date, timestamp)
                    or timestamp >= coalesce($end_date, timestamp + interval 1 day)
                )
                then $outside_date_range
            when usable_message_count < $min_messages then $too_few_messages
            when $max_conversation_chars > 0 and usable_chars > $max_conversation_chars
                then $conversation_too_long
            when $max_message_chars > 0 and longest_usable_message_chars > $max_message_chars
                then $message_too_long
        end as drop_reason
    from conversations
)

select * from final
