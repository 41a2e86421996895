-- night_conversations: tonight's conversations, less the records set aside as duplicates.
with staged as (
    select *
    from staged_conversations
),

duplicates as (
    select
        source_file,
        source_record
    from duplicate_records
),

final as (
    select staged.*
    from staged
    anti join duplicates
        on staged.source_file = duplicates.source_file
        and staged.source_record = duplicates.source_record
)

select * from final
