from dagster import DailyPartitionsDefinition

# Events are extracted per UTC day. end_offset=1 makes today's partial day a partition too.
event_days = DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)
