from dagster import WeeklyPartitionsDefinition

# ISO weeks (Monday to Sunday, keyed by their Monday), from the events' first day on
# (defs/extract/partitions.py). end_offset=1 makes the current, partial week a partition too.
iso_weeks = WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1, end_offset=1)
