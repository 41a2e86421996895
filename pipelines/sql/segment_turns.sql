-- segment_turns: the content hash of each candidate interaction, in input order (the rest of segmentation
-- is Arrow and NumPy in pipelines/segment.py). Input view `candidates` (context, response, followup).
-- The hash is md5 of DuckDB's compact JSON of x, NUL, y, NUL, o: stored nights are deduplicated by it, so
-- these bytes must not change.
with candidates_source as (
    select
        context,
        response,
        followup
    from candidates
),

final as (
    select
        md5(to_json(context)::varchar || chr(0) || response || chr(0) || followup) as content_hash
    from candidates_source
)

select * from final
