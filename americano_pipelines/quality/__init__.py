"""Quality gates: the rules a researcher would write for each table that crosses an asset
boundary (`rules`), as pandera schemas, and the split of a frame into the rows that pass and the
rows quarantined with the rules they broke (`gate`). Pure: no Dagster, no files."""
