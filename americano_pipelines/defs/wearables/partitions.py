from dagster import DailyPartitionsDefinition

from americano_pipelines.config import get_settings

# Local days in AMERICANO_TIMEZONE, from the events' first day on (defs/extract/partitions.py);
# end_offset=1 makes today a partition too, so this morning's sleep can be synced today.
wearable_days = DailyPartitionsDefinition(
    start_date="2024-01-01", timezone=get_settings().timezone, end_offset=1
)
